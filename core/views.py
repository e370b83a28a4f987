"""Core pages: login, first-run setup, language switch, dashboard, settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from core import audit, checklist, health, sessions, stored_settings, two_factor
from core import dashboard as dashboard_panels
from core.auth import Permission, public, require
from core.db import db, utcnow
from core.forms import ConfirmForm, LanguageForm, LoginCodeForm, LoginForm, SetupForm
from core.i18n import LANGUAGES
from core.refusals import showing_refusal
from core.sessions import user_from_session
from core.settings import Kind
from core.users import admin_exists, authenticate_password, create_user, set_language
from core.web import can, limiter

bp = Blueprint("core", __name__)
F = TypeVar("F", bound=Callable[..., Any])

# Failed logins allowed before answering 429: per client address, and per username so a
# password cannot be guessed from many addresses either.
LOGIN_LIMIT_PER_IP = "10 per minute"
LOGIN_LIMIT_PER_USERNAME = "30 per hour"
# Between the password and the code, the session names who is logging in, for this long.
PENDING_LOGIN = timedelta(minutes=5)
PENDING_KEY = "two_factor_login"


def _failed(response: Any) -> bool:
    return bool(response.status_code == 401)


def _safe_next(target: str | None) -> str:
    """Return a local path to go to after login; anything pointing elsewhere goes to the dashboard."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("core.dashboard")


def limited_like_login(key_func: Callable[[], str]) -> Callable[[F], F]:
    """Rate-limit a view's failed POSTs (answered 401) per client address, and per user as key_func names them."""

    def decorator(view: F) -> F:
        per_user = limiter.limit(LOGIN_LIMIT_PER_USERNAME, methods=["POST"], deduct_when=_failed, key_func=key_func)
        return limiter.limit(LOGIN_LIMIT_PER_IP, methods=["POST"], deduct_when=_failed)(per_user(view))  # type: ignore[return-value]

    return decorator


@bp.route("/login", methods=["GET", "POST"])
@public
@limited_like_login(lambda: "user:" + request.form.get("username", "").strip().lower())
def login() -> Any:
    """Show the login form and sign a user in."""
    if not admin_exists():
        return redirect(url_for("core.setup"))
    form = LoginForm(next=request.args.get("next", ""))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(form.next.data))
    if form.validate_on_submit():
        user = authenticate_password(form.username.data or "", form.password.data or "")
        if user is not None and user.two_factor:
            # The password was right; the session holds the user's id and session token until the code comes.
            session[PENDING_KEY] = {"user": user.get_id(), "at": utcnow().timestamp(), "next": form.next.data}
            return redirect(url_for("core.login_code"))
        if user is not None:
            sessions.log_in(user)
            return redirect(_safe_next(form.next.data))
        _failed_login(form.username.data or "", "password")
        # One message for unknown users and wrong passwords: no user enumeration.
        form.password.errors = [_("The username or password is wrong.")]
        return render_template("core/login.html", form=form), 401
    return render_template("core/login.html", form=form)


def _failed_login(username: str, step: str) -> None:
    """Record a failed login (a wrong password, or a wrong code after the right password) in its own commit."""
    audit.record("login.failed", audit.Target("user", None, username.strip().lower()), after={"step": step})
    db.session.commit()


def _pending_login() -> Any:
    """Return the user who gave the right password in this session a little earlier, else None."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    if utcnow().timestamp() - float(pending.get("at", 0)) > PENDING_LOGIN.total_seconds():
        return None
    return user_from_session(str(pending.get("user", "")))


@bp.route("/login/code", methods=["GET", "POST"])
@public
@limited_like_login(lambda: "code:" + str((session.get(PENDING_KEY) or {}).get("user", "")).partition(":")[0])
def login_code() -> Any:
    """Ask a user with two-factor login for a code from their app (or a recovery code) after the password."""
    user = _pending_login()
    if user is None:
        session.pop(PENDING_KEY, None)
        flash(_("Log in again: the time to enter the code ran out."), "info")
        return redirect(url_for("core.login"))
    form = LoginCodeForm()
    if form.validate_on_submit():
        if two_factor.verify(user, form.code.data or ""):
            next_page = session.pop(PENDING_KEY).get("next")
            sessions.log_in(user)
            if not two_factor.is_totp_code(form.code.data or ""):
                flash(_("You used a recovery code. Recovery codes left: %(n)d.",
                        n=two_factor.recovery_codes_left(user)), "warning")
            return redirect(_safe_next(next_page))
        _failed_login(user.username, "code")
        form.code.errors = [_("The code is wrong or was already used.")]
        return render_template("core/login_code.html", form=form), 401
    return render_template("core/login_code.html", form=form)


@bp.post("/logout")
@public
def logout() -> Any:
    """Sign the user out; the session's cookie, and every other session of the user, stop working."""
    sessions.log_out()
    flash(_("You are logged out."), "info")
    return redirect(url_for("core.login"))


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup() -> Any:
    """Create the first admin; the page disappears once an admin exists."""
    if admin_exists():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        with showing_refusal(form, "username"):
            user = create_user(form.username.data or "", form.password.data or "", "admin", language=_locale())
            sessions.log_in(user)
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
    """The home: the notices to act on, the setup checklist (admins) and the panels packages add (subscribers over
    time, lists, campaigns, automations)."""
    steps = checklist.steps() if can(Permission.SETTINGS_MANAGE) else []
    return render_template("core/dashboard.html", notices=health.notices(), panels=dashboard_panels.panels(),
                           steps=steps, setup_done=all(step.done for step in steps))


@bp.get("/system")
@require(Permission.SETTINGS_MANAGE)
def system() -> Any:
    """Show system health: database, Redis, workers, scheduler, SMTP, queues."""
    return render_template("core/system.html", components=health.run_checks(), notices=health.notices())


@bp.route("/settings", methods=["GET", "POST"])
@require(Permission.SETTINGS_MANAGE)
def settings() -> Any:
    """Show the settings in force and where each comes from (secrets hidden); save those edited here."""
    rows, typed, errors = stored_settings.shown(), {}, {}
    if request.method == "POST" and ConfirmForm().validate_on_submit():
        # A checkbox left unticked is not posted; a setting the environment sets is not a field at all.
        typed = {row.setting.name: request.form.get(row.setting.name, "off" if row.setting.kind == Kind.FLAG else "")
                 for row in rows if not row.locked}
        in_fields = {row.setting.name: row.field_value for row in rows}
        try:
            changes = stored_settings.save({name: value for name, value in typed.items()
                                            if value.strip() != in_fields[name]})
        except stored_settings.SettingsRefusedError as refused:
            db.session.rollback()
            errors = refused.errors
        else:
            flash(_("Settings saved; they hold from the next campaign on.") if changes else _("Nothing changed."),
                  "success")
            return redirect(url_for("core.settings"))
    labels = {row.setting.name: row.setting.label for row in rows}
    problems = [(name, labels.get(name, name), message) for name, message in errors.items()]  # the summary's
    page = render_template("core/settings.html", settings=current_app.config["KAIRAN"], form=ConfirmForm(),
                           rows=rows, typed=typed, errors=errors, problems=problems,
                           editable={r.setting.name for r in rows})
    return page, 400 if errors else 200
