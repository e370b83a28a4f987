"""Resending a campaign to those who did not open it: the form the report's button opens, and its API.

Both call mailer/resends.py; the form shows who the resend would reach before it is made.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField

from core.auth import Permission, require
from core.db import utcnow
from core.inputs import json_body
from core.refusals import showing_refusal
from mailer.campaigns import get_campaign
from mailer.models import Campaign, ContentType
from mailer.overview import campaign_dicts
from mailer.resends import RESEND_DELAY, check_resendable, create_resend, resend_audience
from mailer.scheduling import local_input_value, local_zone, parse_local_time

bp = Blueprint("resend", __name__)
api_bp = Blueprint("resend_api", __name__, url_prefix="/api")


class ResendForm(FlaskForm):
    """The resend's subject, send time (in the installation's timezone) and whether machines' openers get it."""

    subject = StringField(_l("Subject of the resend"))
    send_at = StringField(_l("Send at"), render_kw={"type": "datetime-local"})
    machine_openers = BooleanField(_l("Also send it to those only machines opened"))


def _form_page(original: Campaign, form: ResendForm, status: int = 200) -> Any:
    with showing_refusal():  # e.g. the campaign was resent meanwhile: said on the report, no form to fill
        check_resendable(original)
        audience = resend_audience(original)
        return render_template("mailer/resend.html", original=original, form=form, audience=audience,
                               zone=local_zone().key), status
    return redirect(url_for("report.campaign", campaign_id=original.id))


@bp.get("/campaigns/<int:campaign_id>/resend")
@require(Permission.CAMPAIGNS_SEND)
def resend_form(campaign_id: int) -> Any:
    """Show who a resend would reach, and the form: the original's subject, 48 hours from now."""
    original = get_campaign(campaign_id)
    form = ResendForm(subject=original.subject, send_at=local_input_value(utcnow() + RESEND_DELAY))
    return _form_page(original, form)


@bp.post("/campaigns/<int:campaign_id>/resend")
@require(Permission.CAMPAIGNS_SEND)
def resend(campaign_id: int) -> Any:
    """Make the resend, scheduled, and open it in the editor (its content can still change there)."""
    original = get_campaign(campaign_id)
    form = ResendForm()
    if form.validate_on_submit():
        with showing_refusal(form, "subject"):
            send_at = parse_local_time(form.send_at.data or "")
            made = create_resend(original, {"subject": form.subject.data, "send_at": send_at.isoformat(),
                                            "machine_openers": bool(form.machine_openers.data)})
            flash(_("Resend “%(name)s” scheduled. Its audience is fixed when it starts.", name=made.name), "success")
            return redirect(url_for("compose.campaign_edit", campaign_id=made.id))
    return _form_page(original, form, 400)


@api_bp.get("/campaigns/<int:campaign_id>/resend")
@require(Permission.CAMPAIGNS_READ)
def get_resend_audience(campaign_id: int) -> Any:
    """Count who a resend to non-openers would reach.
    ---
    get:
      tags: [campaigns]
      summary: Who a resend of this finished (or cancelled) campaign would reach if it started now (its resend's
        audience, once it has one).
      description: non_openers were sent the message and neither opened nor clicked it as a person, nor bounced,
        complained or unsubscribed; machine_openers the same, except that a machine opened or clicked it (Apple's
        prefetch, a link scanner), so whether a person saw it is unknown.
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: The two groups.
          content: {application/json: {schema: {type: object, properties: {
                    data: {$ref: '#/components/schemas/ResendAudience'}}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=asdict(resend_audience(get_campaign(campaign_id))))


@api_bp.post("/campaigns/<int:campaign_id>/resend")
@require(Permission.CAMPAIGNS_SEND)
def post_resend(campaign_id: int) -> Any:
    """Resend a campaign to those who did not open it.
    ---
    post:
      tags: [campaigns]
      summary: Make this finished (or cancelled) campaign's resend to non-openers, scheduled at send_at.
      description: The resend is a normal scheduled campaign (change it with PUT /api/campaigns/{id}) with the
        original's content, layout, sender and lists unless given, and resend_of naming the original. Its audience is
        fixed when it starts, as GET .../resend counts it then; someone who opens the original before that is left
        out. A campaign has at most one resend (409), and a resend cannot be resent.
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/ResendInput'}}}
      responses:
        200:
          description: The resend, scheduled.
          content: {application/json: {schema: {type: object, properties: {
                    data: {$ref: '#/components/schemas/Campaign'}}}}}
        400: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    made = create_resend(get_campaign(campaign_id), json_body())
    return jsonify(data=campaign_dicts([made])[0])


RESEND_INPUT = {
    "type": "object", "required": ["subject"],
    "properties": {
        "subject": {"type": "string", "description": "The resend's subject, not empty."},
        "send_at": {"type": "string", "format": "date-time",
                    "description": "When it starts, in the future with a UTC offset; 48 hours from now when left out."},
        "machine_openers": {"type": "boolean", "default": False,
                            "description": "Send it to those only machines opened (Apple's prefetch, scanners) too."},
        "name": {"type": "string", "description": "Its name; the original's with a note when left out."},
        "body": {"type": "string", "description": "New content; a copy of the original's when left out."},
        "content_type": {"type": "string", "enum": [c.value for c in ContentType],
                         "description": "What body is written in; the original's when left out."},
    },
}
RESEND_AUDIENCE = {
    "type": "object",
    "properties": {
        "non_openers": {"type": "integer", "description": "Sent it; no open or click by a person or a machine, "
                                                          "no bounce, complaint or unsubscribe."},
        "machine_openers": {"type": "integer", "description": "The same, but a machine opened or clicked it."},
    },
}
