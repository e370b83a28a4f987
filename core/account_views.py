"""Each person's own account page: their password and two-factor login."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from core import sessions, two_factor
from core.api import is_api_request
from core.auth import PUBLIC, Permission, require
from core.errors import PermissionDeniedError
from core.forms import ChangePasswordForm, DisableTwoFactorForm, EnrolForm
from core.models import User
from core.refusals import showing_refusal
from core.users import authenticate_password, set_password
from core.views import LOGIN_LIMIT_PER_IP
from core.web import limiter

bp = Blueprint("account", __name__, url_prefix="/account")

# What an admin who must enrol (KAIRAN_REQUIRE_2FA_ADMINS) may still open, besides public pages (logout).
BEFORE_ENROLMENT = {"account.two_factor_setup", "static"}


def _me() -> User:
    """The signed-in person themself, not the proxy (login_user must not be handed current_user)."""
    user: User = current_user._get_current_object()
    return user


def _render(status: int = 200, **forms: Any) -> Any:
    return render_template(
        "core/account.html",
        password_form=forms.get("password_form") or ChangePasswordForm(prefix="pw"),
        disable_form=forms.get("disable_form") or DisableTwoFactorForm(prefix="off"),
        codes_left=two_factor.recovery_codes_left(current_user) if current_user.two_factor else 0,
        must_keep=current_app.config["KAIRAN"].require_2fa_admins and current_user.role == "admin",
    ), status


@bp.get("/")
@require(Permission.OWN_ACCOUNT)
def index() -> Any:
    """Show the forms to change one's password and to turn two-factor login on or off."""
    return _render()


@bp.post("/password")
@require(Permission.OWN_ACCOUNT)
def change_password() -> Any:
    """Change one's own password; every other session of this user ends, this one goes on."""
    form = ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        if authenticate_password(current_user.username, form.current.data or "") is None:
            form.current.errors = [_("The current password is wrong.")]
        else:
            with showing_refusal(form, "password"):
                set_password(_me(), form.password.data or "")
                sessions.end_other_sessions(_me())
                flash(_("Your password is changed. Your other sessions have ended."), "success")
                return redirect(url_for("account.index"))
    return _render(400, password_form=form)


@bp.route("/two-factor", methods=["GET", "POST"])
@require(Permission.OWN_ACCOUNT)
def two_factor_setup() -> Any:
    """Enrol: scan the QR code (or type the secret), then confirm one code; the recovery codes are shown once."""
    user = _me()
    if user.two_factor:
        return redirect(url_for("account.index"))
    form = EnrolForm()
    status = 200
    if form.validate_on_submit():
        codes = two_factor.confirm(user, form.code.data or "")
        if codes is not None:
            sessions.end_other_sessions(user)  # a session opened with the password alone ends
            return render_template("core/recovery_codes.html", codes=codes)
        form.code.errors = [_("The code does not match. Check that your phone's clock is right and type the "
                              "newest code.")]
        status = 400
    secret = two_factor.pending_secret(user)
    qr = Markup(two_factor.provisioning_qr(user, secret))  # noqa: S704 - segno's SVG of our own URI
    return render_template("core/two_factor_setup.html", form=form, secret=secret, qr=qr,
                           required=two_factor.required(user)), status


def _refused(response: Any) -> bool:
    return bool(response.status_code == 400)


@bp.post("/two-factor/off")
@require(Permission.OWN_ACCOUNT)
@limiter.limit(LOGIN_LIMIT_PER_IP, deduct_when=_refused)
def two_factor_off() -> Any:
    """Turn two-factor login off, with the password and a code (or a recovery code)."""
    form = DisableTwoFactorForm(prefix="off")
    if current_app.config["KAIRAN"].require_2fa_admins and current_user.role == "admin":
        flash(_("Admins must use two-factor login here (KAIRAN_REQUIRE_2FA_ADMINS)."), "error")
        return redirect(url_for("account.index"))
    if form.validate_on_submit():
        if authenticate_password(current_user.username, form.password.data or "") is None:
            form.password.errors = [_("The password is wrong.")]
        elif not two_factor.verify(current_user, form.code.data or ""):
            form.code.errors = [_("The code is wrong or was already used.")]
        else:
            two_factor.turn_off(current_user)
            flash(_("Two-factor login is off."), "success")
            return redirect(url_for("account.index"))
    return _render(400, disable_form=form)


def require_enrolment() -> Any:
    """Send an admin without two-factor login to enrolment when KAIRAN_REQUIRE_2FA_ADMINS is on.

    API users authenticate by token and are never asked; a browser session on the API gets a 403.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    if (request.endpoint in BEFORE_ENROLMENT or getattr(view, "kairan_permission", None) == PUBLIC
            or not current_user.is_authenticated
            or g.get("api_token_user") is not None or not two_factor.required(current_user)):
        return None
    if is_api_request():
        raise PermissionDeniedError(_("Set up two-factor login first."))
    return redirect(url_for("account.two_factor_setup"))
