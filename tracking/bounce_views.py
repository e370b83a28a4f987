"""The Bounces page: bounces and complaints with their reason, and the inbound mail intake could not read."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from core.auth import Permission, require
from core.db import db
from core.forms import ConfirmForm
from core.inputs import INT64_MAX, id_or_none
from core.refusals import showing_refusal
from mailer.models import Campaign
from tracking.bounces import (
    bounce_dicts,
    bounce_sources,
    bounces_query,
    delete_bounces,
    delete_unread_mail,
    get_bounce,
    get_unread_mail,
    unread_mail,
)
from tracking.models import BounceType

bp = Blueprint("bounces", __name__, url_prefix="/subscribers/bounces")
PER_PAGE = 50
UNREAD_SHOWN = 50  # newest first; an admin deletes them once looked at


def _filters() -> dict[str, Any]:
    campaign = request.args.get("campaign_id", "")
    return {"kind": request.args.get("type", ""), "source": request.args.get("source", "").strip(),
            "campaign_id": id_or_none(campaign)}


@bp.get("/")
@require(Permission.BOUNCES_READ)
def index() -> Any:
    """List bounces, filtered by type, source and campaign, newest first; then the unread mail."""
    filters = _filters()
    page = id_or_none(request.args.get("page"), INT64_MAX) or 1
    with showing_refusal() as attempt:  # an unknown type in the address bar: say so, show them all
        stmt = bounces_query(**filters)
    if attempt.refused:
        filters["kind"] = ""
        stmt = bounces_query(**filters)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    campaigns = db.session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.id.desc())).all()
    # Each row with its listmonk-shaped twin, which carries the campaign's name.
    pairs = list(zip(rows, bounce_dicts(rows), strict=True))
    return render_template("tracking/bounces.html", bounces=pairs, total=total, page=page, per_page=PER_PAGE,
                           filters=filters, types=[t.value for t in BounceType], sources=bounce_sources(),
                           campaigns=campaigns, unread=unread_mail(UNREAD_SHOWN), form=ConfirmForm())


@bp.post("/<int:bounce_id>/delete")
@require(Permission.BOUNCES_MANAGE)
def delete(bounce_id: int) -> Any:
    """Delete one bounce (a suppression it caused stays)."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            delete_bounces([get_bounce(bounce_id).id])
            flash(_("Bounce deleted. A suppression it caused stays on the suppression list."), "success")
    return redirect(request.referrer or url_for("bounces.index"))


@bp.get("/unread/<int:unread_id>.eml")
@require(Permission.BOUNCES_MANAGE)
def download_unread(unread_id: int) -> Any:
    """Download an unread message as it arrived, to read it in a mail program."""
    unread = get_unread_mail(unread_id)
    # An attachment, never rendered here: it is untrusted mail.
    return Response(unread.raw, mimetype="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="unread-{unread.id}.eml"',
        "X-Content-Type-Options": "nosniff"})


@bp.post("/unread/<int:unread_id>/delete")
@require(Permission.BOUNCES_MANAGE)
def delete_unread(unread_id: int) -> Any:
    """Delete an unread message once looked at."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            delete_unread_mail(unread_id)
            flash(_("Message deleted."), "success")
    return redirect(url_for("bounces.index") + "#unread")
