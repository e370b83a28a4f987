"""The open-time heatmap: its page (every recent campaign's), the API, and scheduling a draft at its best slot.

A campaign's own heatmap is shown on its report (tracking/report_views.py) with the same partial.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from core.auth import Permission, require
from core.db import db
from core.forms import ConfirmForm
from core.inputs import id_or_none, whole_number
from core.refusals import showing_refusal
from core.web import can
from mailer.campaigns import get_campaign
from mailer.models import Campaign, CampaignKind, CampaignStatus
from tracking.send_times import RECENT_DAYS, Heatmap, heatmap, schedule_at_best

bp = Blueprint("heatmap", __name__)
api_bp = Blueprint("heatmap_api", __name__, url_prefix="/api")

HEATMAP = {
    "type": "object",
    "properties": {
        "timezone": {"type": "string", "description": "KAIRAN_TIMEZONE, in which weekdays and hours are read."},
        "total": {"type": "integer", "description": "Human opens counted (machines' never are)."},
        "cells": {"type": "array", "description": "7 rows (0 Monday … 6 Sunday) of 24 counts (hours 0–23).",
                  "items": {"type": "array", "items": {"type": "integer"}}},
        "best": {"type": "object", "nullable": True,
                 "description": "The weekday and hour with the most human opens (ties: the soonest), and when it "
                                "next begins; null before any open.",
                 "properties": {"weekday": {"type": "integer"}, "hour": {"type": "integer"},
                                "opens": {"type": "integer"},
                                "next_at": {"type": "string", "format": "date-time"}}},
    },
}


def drafts() -> list[tuple[int, str]]:
    """The draft campaigns a heatmap's button may schedule, newest first."""
    return list(db.session.execute(select(Campaign.id, Campaign.name).where(
        Campaign.status == CampaignStatus.DRAFT, Campaign.kind == CampaignKind.REGULAR).order_by(Campaign.id.desc())))


def heatmap_part(found: Heatmap, source: int | None = None) -> Markup:
    """The heatmap with its button, as the heatmap page and a campaign's report show it."""
    html = render_template("tracking/_heatmap.html", heatmap=found, source=source, form=ConfirmForm(),
                           drafts=drafts() if can(Permission.CAMPAIGNS_SEND) else [])
    return Markup(html)  # noqa: S704  (our template's output)


@bp.get("/campaigns/heatmap")
@require(Permission.STATS_READ)
def page() -> Any:
    """Show when people open, across every campaign of the last RECENT_DAYS."""
    return render_template("tracking/heatmap.html", part=heatmap_part(heatmap()), days=RECENT_DAYS)


@bp.post("/campaigns/heatmap/schedule")
@require(Permission.CAMPAIGNS_SEND)
def schedule() -> Any:
    """Schedule the chosen draft at the best slot of the heatmap it was shown with (a campaign's, or everyone's)."""
    form = ConfirmForm()
    source = id_or_none(request.form.get("source"))
    back = (url_for("report.campaign", campaign_id=source) if source else url_for("heatmap.page"))
    if not form.validate_on_submit():
        flash(_("The form expired: try again."), "error")
        return redirect(back)
    with showing_refusal():
        campaign = get_campaign(whole_number(request.form.get("campaign_id"), "campaign_id"))
        at = schedule_at_best(campaign, heatmap(source))
        flash(_("“%(name)s” is scheduled for %(time)s, the best slot.", name=campaign.name,
                time=format_datetime(at, "medium")), "success")
        return redirect(url_for("compose.campaign_preview", campaign_id=campaign.id))
    return redirect(back)


@api_bp.get("/campaigns/heatmap")
@require(Permission.STATS_READ)
def api_recent() -> Any:
    """Return the open-time heatmap of recent campaigns.
    ---
    get:
      tags: [metrics]
      summary: Human opens by weekday and hour (KAIRAN_TIMEZONE) across every campaign of the last 90 days.
      responses:
        200:
          description: The heatmap and its best slot.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/Heatmap'}}}
    """
    return jsonify(data=heatmap().as_dict())


@api_bp.get("/campaigns/<int:campaign_id>/heatmap")
@require(Permission.STATS_READ)
def api_campaign(campaign_id: int) -> Any:
    """Return one campaign's open-time heatmap.
    ---
    get:
      tags: [metrics]
      summary: The campaign's human opens by weekday and hour (KAIRAN_TIMEZONE).
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: The heatmap and its best slot.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/Heatmap'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    get_campaign(campaign_id)
    return jsonify(data=heatmap(campaign_id).as_dict())
