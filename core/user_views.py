"""Admin pages for users and API tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _

from core import sessions, two_factor
from core.auth import Permission, require
from core.forms import ConfirmForm, EditUserForm, NewTokenForm, NewUserForm
from core.models import UserType
from core.refusals import showing_refusal
from core.users import create_api_user, create_user, delete_user, get_user, list_users, rotate_token, update_user

bp = Blueprint("users", __name__, url_prefix="/users")


def _render_index(**forms: Any) -> Any:
    users = list_users()
    return render_template(
        "core/users.html",
        people=[u for u in users if u.type == UserType.USER],
        api_users=[u for u in users if u.type == UserType.API],
        user_form=forms.get("user_form") or NewUserForm(prefix="user"),
        token_form=forms.get("token_form") or NewTokenForm(prefix="token"),
        confirm_form=ConfirmForm(),
        # Shown once: kept in the session only between the POST and the page it redirects to.
        new_token=session.pop("new_token", None),
    )


@bp.get("/")
@require(Permission.USERS_MANAGE)
def index() -> Any:
    """List users and API users with forms to add either."""
    return _render_index()


@bp.post("/")
@require(Permission.USERS_MANAGE)
def create() -> Any:
    """Add a person who logs in."""
    form = NewUserForm(prefix="user")
    if form.validate_on_submit():
        with showing_refusal(form, "username"):
            user = create_user(form.username.data or "", form.password.data or "", form.role.data or "",
                               language=form.language.data or None)
            flash(_("User %(name)s added.", name=user.username), "success")
            return redirect(url_for("users.index"))
    return _render_index(user_form=form), 400


@bp.post("/tokens")
@require(Permission.USERS_MANAGE)
def create_token() -> Any:
    """Add an API user and show its token once."""
    form = NewTokenForm(prefix="token")
    if form.validate_on_submit():
        with showing_refusal(form, "username"):
            user, token = create_api_user(form.username.data or "", form.role.data or "")
            session["new_token"] = f"{user.username}:{token}"
            return redirect(url_for("users.index"))
    return _render_index(token_form=form), 400


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@require(Permission.USERS_MANAGE)
def edit(user_id: int) -> Any:
    """Change a user's role, enabled flag or password."""
    user = get_user(user_id)
    form = EditUserForm(obj=user)
    if form.validate_on_submit():
        with showing_refusal(form, "role"):
            update_user(user, role=form.role.data or "", enabled=form.enabled.data, password=form.password.data)
            if form.password.data:
                sessions.end_other_sessions(user)  # the new password ends their sessions (and keeps this one)
            flash(_("Changes to %(name)s saved.", name=user.username), "success")
            return redirect(url_for("users.index"))
    return render_template("core/user_edit.html", user=user, form=form, confirm_form=ConfirmForm())


@bp.post("/<int:user_id>/rotate")
@require(Permission.USERS_MANAGE)
def rotate(user_id: int) -> Any:
    """Give an API user a new token, shown once."""
    user = get_user(user_id)
    if user.type == UserType.API and ConfirmForm().validate_on_submit():
        session["new_token"] = f"{user.username}:{rotate_token(user)}"
    return redirect(url_for("users.index"))


@bp.post("/<int:user_id>/two-factor/off")
@require(Permission.USERS_MANAGE)
def two_factor_off(user_id: int) -> Any:
    """Turn off a person's two-factor login (they lost their phone and their recovery codes)."""
    user = get_user(user_id)
    if ConfirmForm().validate_on_submit():
        two_factor.turn_off(user)
        flash(_("Two-factor login of %(name)s is off.", name=user.username), "success")
    return redirect(url_for("users.edit", user_id=user.id))


@bp.post("/<int:user_id>/delete")
@require(Permission.USERS_MANAGE)
def delete(user_id: int) -> Any:
    """Delete a user or API user."""
    user = get_user(user_id)
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            delete_user(user)
            flash(_("%(name)s deleted.", name=user.username), "success")
    return redirect(url_for("users.index"))
