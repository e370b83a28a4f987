"""Web plumbing shared by every blueprint: login manager, CSRF, rate limits, error answers."""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from core import refusals
from core.api import API_PATHS, is_api_request, load_user_from_request
from core.auth import Permission, Role, has_permission
from core.errors import FormExpiredError, KairanError, NotFoundError
from core.models import User
from core.queues import limiter_storage_uri
from core.sessions import user_from_session
from core.urls import hide_password
from core.users import admin_exists

_ROLE_LABELS = {Role.ADMIN: _l("Admin"), Role.EDITOR: _l("Editor"), Role.VIEWER: _l("Viewer")}

login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, strategy="fixed-window")

# Messages for HTTP errors, in the visitor's language; listmonk's API uses the same codes.
_HTTP_MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You do not have permission to do this."),
    404: _l("Unknown endpoint."),
    405: _l("This method is not allowed here."),
    429: _l("Too many attempts. Wait a minute and try again."),
}


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Load the signed-in person from the session; API users never hold a session."""
    return user_from_session(session_id)


def protect_forms() -> None:
    """Check the CSRF token on every form POST of the UI (the API authenticates by token)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if is_api_request() or getattr(view, "kairan_csrf_exempt", False):
        return
    csrf.protect()


def _answer(status: int, message: str) -> Any:
    if is_api_request() or request.is_json:  # the API, and the UI's own scripts that post JSON, read JSON
        return jsonify(message=message), status
    return render_template("core/error.html", status=status, message=message), status


def handle_kairan_error(error: KairanError) -> Any:
    """Answer a domain error with its message (a page for something missing is a 404; listmonk's API says 400)."""
    if isinstance(error, NotFoundError) and not is_api_request():
        return _answer(404, error.message)
    return _answer(error.status, error.message)


def handle_csrf_error(error: CSRFError) -> Any:
    """Explain a form that came without a valid CSRF token."""
    return handle_kairan_error(FormExpiredError())


def handle_rate_limit(error: RateLimitExceeded) -> Any:
    """Explain that a rate limit was hit."""
    return _answer(429, str(_HTTP_MESSAGES[429]))


def handle_http_error(error: HTTPException) -> Any:
    """Answer HTTP errors as JSON on the API and as a page in the UI."""
    status = error.code or 500
    if status == 404 and not is_api_request():
        return _answer(404, _("This page does not exist."))
    return _answer(status, str(_HTTP_MESSAGES.get(status, error.description or error.name)))


def unauthorized() -> Any:
    """Send an anonymous visitor to the login page, or to setup while no admin exists."""
    if not admin_exists():
        return redirect(url_for("core.setup"))
    flash(_("Please log in to see this page."), "info")
    return redirect(url_for("core.login", next=request.full_path if request.query_string else request.path))


def can(permission: str) -> bool:
    """Tell templates whether the signed-in user has a permission."""
    return bool(current_user.is_authenticated) and has_permission(current_user.role, Permission(permission))


def role_label(role: str) -> str:
    """Return a role's name in the UI language."""
    return str(_ROLE_LABELS[Role(role)])


class TokenAwareSessionInterface(SecureCookieSessionInterface):
    """Sessions as Flask keeps them, except that an API call carrying credentials has none.

    Such a call stands on its token alone: a cookie the same client got from a public page would
    otherwise trip Flask-Login's strong session protection, which clears the user before the
    request loader reads the Authorization header.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Return an empty, unsaved session for a credentialed API call; the cookie's session otherwise."""
        if "Authorization" in request.headers and request.path.startswith(API_PATHS):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Attach login, CSRF, rate limits, the error answers and the template helpers."""
    app.session_interface = TokenAwareSessionInterface()
    app.jinja_env.globals.update(can=can, role_label=role_label, form_problems=refusals.problems)
    app.jinja_env.filters["hide_password"] = hide_password
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.request_loader(load_user_from_request)
    login_manager.unauthorized_handler(unauthorized)
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # protect_forms decides, per request
    csrf.init_app(app)
    app.before_request(protect_forms)
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(app.config["KAIRAN"].redis_url))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    app.register_error_handler(KairanError, handle_kairan_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(RateLimitExceeded, handle_rate_limit)
    app.register_error_handler(HTTPException, handle_http_error)
