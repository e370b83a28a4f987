"""Core pages: login, first-run setup, language switch, dashboard, settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from core import dashboard as dashboard_panels
from core import health
from core.auth import Permission, public, require
from core.errors import KairanError
from core.forms import ConfirmForm, LanguageForm, LoginForm, SetupForm
from core.i18n import LANGUAGES
from core.users import authenticate_password, create_user, has_admin, set_language
from core.web import limiter

bp = Blueprint("core", __name__)

# Failed logins allowed before answering 429: per client address, and per username so a
# password cannot be guessed from many addresses either.
LOGIN_LIMIT_PER_IP = "10 per minute"
LOGIN_LIMIT_PER_USERNAME = "30 per hour"


def _failed(response: Any) -> bool:
    return bool(response.status_code == 401)


def _safe_next(target: str | None) -> str:
    """Return a local path to go to after login; anything pointing elsewhere goes to the dashboard."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("core.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(LOGIN_LIMIT_PER_IP, methods=["POST"], deduct_when=_failed)
@limiter.limit(
    LOGIN_LIMIT_PER_USERNAME,
    methods=["POST"],
    deduct_when=_failed,
    key_func=lambda: "user:" + request.form.get("username", "").strip().lower(),
)
def login() -> Any:
    """Show the login form and sign a user in."""
    if not has_admin():
        return redirect(url_for("core.setup"))
    form = LoginForm(next=request.args.get("next", ""))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(form.next.data))
    if form.validate_on_submit():
        user = authenticate_password(form.username.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(_safe_next(form.next.data))
        # One message for unknown users and wrong passwords: no user enumeration.
        form.password.errors = [_("The username or password is wrong.")]
        return render_template("core/login.html", form=form), 401
    return render_template("core/login.html", form=form)


@bp.post("/logout")
@public
def logout() -> Any:
    """Sign the user out."""
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("core.login"))


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup() -> Any:
    """Create the first admin; the page disappears once an admin exists."""
    if has_admin():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.username.data or "", form.password.data or "", "admin", language=_locale())
        except KairanError as exc:
            form.username.errors = [exc.message]
        else:
            login_user(user)
            flash(_("Welcome to Kairan. Your admin account is ready."), "success")
            return redirect(url_for("core.dashboard"))
    return render_template("core/setup.html", form=form)


def _locale() -> str | None:
    locale = get_locale()
    return str(locale) if locale else None


@bp.post("/language")
@public
def language() -> Any:
    """Switch the UI language, for this visit and (when signed in) for the user."""
    form = LanguageForm()
    if form.validate_on_submit() and form.language.data in LANGUAGES:
        session["language"] = form.language.data
        if current_user.is_authenticated:
            set_language(current_user, form.language.data)
    return redirect(_safe_next(request.form.get("next")))


@bp.get("/")
@require(Permission.DASHBOARD)
def dashboard() -> Any:
    """Show system health (database, Redis, workers, SMTP, queues) and the panels packages add."""
    components = health.run_checks()
    return render_template("core/dashboard.html", components=components, notices=health.notices(),
                           panels=dashboard_panels.panels())


@bp.get("/settings")
@require(Permission.SETTINGS_MANAGE)
def settings() -> Any:
    """Show the effective settings and where each comes from (secrets hidden)."""
    return render_template("core/settings.html", settings=current_app.config["KAIRAN"], form=ConfirmForm())
