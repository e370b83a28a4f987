"""The A/B test's pages: a variant in the campaign's own editor, and the winner chosen by hand."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from core.auth import Permission, require
from core.forms import ConfirmForm
from core.inputs import id_or_none
from core.refusals import showing_refusal
from core.web import can
from mailer import ab
from mailer.campaigns import editable, get_campaign
from mailer.compose_views import posted_campaign, visual_editor_messages
from mailer.media import all_media, media_as_dict
from mailer.models import Campaign
from mailer.starting import send_winner
from mailer.views import save_posted

bp = Blueprint("ab", __name__)


@bp.route("/campaigns/<int:campaign_id>/variants/<int:position>", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS_READ)
def variant_edit(campaign_id: int, position: int) -> Any:
    """Edit one A/B variant's subject, sender's name, preheader and content, in the campaign's own editor."""
    campaign = get_campaign(campaign_id)
    variant = ab.variant_at(campaign, position)
    if variant is None:
        abort(404)
    if request.method == "POST":
        if not can(Permission.CAMPAIGNS_WRITE):
            abort(403)
        values = posted_campaign(campaign)
        if values.get("body", "") == campaign.body or request.form.get("own_content") != "on":
            values.update(body="", body_source=None, altbody="")  # the campaign's content, not a copy of it
        with showing_refusal():
            save_posted(lambda: (ab.save_variant(campaign, position, values), []))
            flash(_("Variant %(label)s saved.", label=ab.label(position)), "success")
            target = "compose.campaign_preview" if request.form.get("then") == "preview" else "ab.variant_edit"
            return redirect(url_for(target, campaign_id=campaign.id, position=position, variant=position))
        return _variant_editor(campaign, position, values, 400)
    own = bool(variant.body)
    return _variant_editor(campaign, position, {
        "subject": variant.subject or "", "from_name": variant.from_name or "", "preheader": variant.preheader or "",
        "content_type": (variant.content_type or campaign.content_type).value if own else campaign.content_type.value,
        "body": variant.body if own else campaign.body, "body_source": variant.body_source if own else
        campaign.body_source, "altbody": (variant.altbody if own else campaign.altbody) or "", "own_content": own})


def _variant_editor(campaign: Campaign, position: int, values: dict[str, Any], status: int = 200) -> Any:
    return render_template(
        "mailer/variant_edit.html", campaign=campaign, position=position, label=ab.label(position), values=values,
        form=ConfirmForm(), media=[media_as_dict(m) for m in all_media()], editor_messages=visual_editor_messages(),
        editable=editable(campaign) and campaign.started_at is None), status


@bp.post("/campaigns/<int:campaign_id>/ab/winner")
@require(Permission.CAMPAIGNS_SEND)
def ab_winner(campaign_id: int) -> Any:
    """Choose an A/B test's winner by hand and send it to the rest of the audience."""
    campaign = get_campaign(campaign_id)
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            position = id_or_none(request.form.get("winner"), ab.MAX_VARIANTS) or 0
            added = send_winner(campaign, position, str(current_user.username))
            flash(ngettext("Variant %(label)s won: it goes to %(num)d more recipient.",
                           "Variant %(label)s won: it goes to %(num)d more recipients.", added,
                           label=ab.label(position)), "success")
    back = request.form.get("back") or ""
    if back == "report":
        return redirect(url_for("report.campaign", campaign_id=campaign.id))
    return redirect(url_for("compose.campaign_preview", campaign_id=campaign.id))
