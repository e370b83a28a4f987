"""UI pages for lists."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from core.auth import Permission, require
from core.db import db
from lists.services import lists_query

bp = Blueprint("lists", __name__)


@bp.get("/lists/")
@require(Permission.LISTS_READ)
def index() -> Any:
    """Show the lists, or what to do when there are none."""
    query = request.args.get("query", "").strip()
    mailing_lists = db.session.scalars(lists_query(query=query).limit(500)).all()
    return render_template("lists/index.html", lists=mailing_lists, query=query)


@bp.get("/subscribers/")
@require(Permission.SUBSCRIBERS_READ)
def subscribers() -> Any:
    """Show the subscribers page (the audience issue fills it)."""
    return render_template(
        "placeholder.html", title=_("Subscribers"), empty_title=_("No subscribers yet."),
        text=_("Adding subscribers by hand, CSV import and the signup form arrive in a coming version. "
               "Integrations can already add subscribers with POST /api/subscribers."),
    )
