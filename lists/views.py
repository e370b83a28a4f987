"""UI pages for lists."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.auth import Permission, require
from core.db import db
from core.forms import ConfirmForm
from core.refusals import showing_refusal
from lists.forms import ListForm
from lists.public import public_lists
from lists.services import create_list, delete_lists, get_list, lists_query, subscription_counts, update_list

bp = Blueprint("lists", __name__)
MAX_LISTS_SHOWN = 500  # lists number in the tens; a search narrows larger sets


def _form_data(form: ListForm) -> dict[str, Any]:
    return {
        "name": form.name.data, "type": form.type.data, "optin": form.optin.data,
        "tags": [t.strip() for t in (form.tags.data or "").split(",") if t.strip()],
        "description": form.description.data,
    }


def _index(form: ListForm) -> Any:
    query = request.args.get("query", "").strip()
    mailing_lists = db.session.scalars(lists_query(query=query).limit(MAX_LISTS_SHOWN)).all()
    counts = subscription_counts([m.id for m in mailing_lists])
    return render_template("lists/index.html", lists=mailing_lists, counts=counts, query=query, form=form)


@bp.get("/lists/")
@require(Permission.LISTS_READ)
def index() -> Any:
    """Show the lists with their subscriber counts, and a form to add one."""
    return _index(ListForm())


@bp.post("/lists/")
@require(Permission.LISTS_WRITE)
def create() -> Any:
    """Add a list."""
    form = ListForm()
    if form.validate_on_submit():
        with showing_refusal(form, "name"):
            mailing_list = create_list(_form_data(form))
            flash(_("List %(name)s created.", name=mailing_list.name), "success")
            return redirect(url_for("lists.detail", list_id=mailing_list.id))
    return _index(form), 400


def _detail(mailing_list: Any, form: ListForm) -> Any:
    counts = subscription_counts([mailing_list.id]).get(mailing_list.id, {})
    return render_template("lists/detail.html", list=mailing_list, counts=counts, form=form,
                           confirm_form=ConfirmForm())


@bp.get("/lists/<int:list_id>")
@require(Permission.LISTS_READ)
def detail(list_id: int) -> Any:
    """Show a list with its subscriber counts (and, for editors, a form to change it)."""
    mailing_list = get_list(list_id)
    form = ListForm(obj=mailing_list)
    form.tags.data = ", ".join(mailing_list.tags or [])  # WTForms prefers obj over data=
    return _detail(mailing_list, form)


@bp.post("/lists/<int:list_id>")
@require(Permission.LISTS_WRITE)
def update(list_id: int) -> Any:
    """Change a list."""
    mailing_list = get_list(list_id)
    form = ListForm()
    if form.validate_on_submit():
        with showing_refusal(form, "name"):
            update_list(mailing_list, _form_data(form))
            flash(_("Changes to %(name)s saved.", name=mailing_list.name), "success")
            return redirect(url_for("lists.detail", list_id=list_id))
    return _detail(mailing_list, form), 400


@bp.get("/lists/form")
@require(Permission.LISTS_READ)
def signup_form() -> Any:
    """Show the hosted subscription form's address and an HTML snippet to embed it on any site."""
    settings = current_app.config["KAIRAN"]
    return render_template("lists/signup_form.html", lists=public_lists(),
                           form_url=f"{settings.base_url}{url_for('public.subscription_form')}")


@bp.post("/lists/<int:list_id>/delete")
@require(Permission.LISTS_WRITE)
def delete(list_id: int) -> Any:
    """Delete a list; its subscribers stay."""
    mailing_list = get_list(list_id)
    if ConfirmForm().validate_on_submit():
        with showing_refusal() as attempt:  # a list a live automation uses: said on the lists page
            delete_lists([list_id])
        if attempt.error is None:
            flash(_("List %(name)s deleted.", name=mailing_list.name), "success")
    return redirect(url_for("lists.index"))
