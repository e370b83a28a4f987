"""The suppression list page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.auth import Permission, require
from core.db import db
from core.forms import ConfirmForm
from core.refusals import showing_refusal
from lists.suppressions import add_suppression, remove_suppression, suppressions_query

bp = Blueprint("suppressions", __name__, url_prefix="/subscribers/suppressions")
SHOWN = 200  # newest first; a search narrows longer lists


@bp.get("/")
@require(Permission.SUBSCRIBERS_READ)
def index() -> Any:
    """Show suppressed addresses and domains, with a form to add one."""
    return _page()


def _page(typed: Mapping[str, str] | None = None) -> str:
    """The page; ``typed`` is a refused form's fields, shown again in it."""
    search = request.args.get("search", "").strip()
    rows = db.session.scalars(suppressions_query(search).limit(SHOWN)).all()
    return render_template("lists/suppressions.html", suppressions=rows, search=search, form=ConfirmForm(),
                           typed=typed or {})


@bp.post("/")
@require(Permission.SUBSCRIBERS_WRITE)
def create() -> Any:
    """Suppress an address or a domain."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            suppression = add_suppression(request.form.get("value", ""), request.form.get("reason", "manual"),
                                          current_user.username)
            flash(_("%(value)s will never be mailed.", value=suppression.value), "success")
            return redirect(url_for("suppressions.index"))
        return _page(request.form), 400
    return redirect(url_for("suppressions.index"))


@bp.post("/<int:suppression_id>/delete")
@require(Permission.SUBSCRIBERS_WRITE)
def delete(suppression_id: int) -> Any:
    """Lift a suppression."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            remove_suppression(suppression_id)
            flash(_("Suppression lifted."), "success")
    return redirect(url_for("suppressions.index"))
