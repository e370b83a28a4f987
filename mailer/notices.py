"""What a campaign's send tells its admin: a notice on the campaign after a batch, and the dashboard's list.

A relay that refuses mail because of the sender (DKIM, SPF, DMARC, the account) says so on the
campaign; a campaign whose failures pass KAIRAN_PAUSE_FAILURES and KAIRAN_PAUSE_FAILURE_PERCENT
pauses itself, saying why. Both show on the dashboard until the campaign is started again.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db
from core.health import Notice
from mailer import queries
from mailer.campaigns import get_campaign
from mailer.models import Campaign, CampaignStatus


def after_batch(campaign_id: int, sender_rejections: Sequence[str], last_failure: str | None) -> None:
    """Tell the admin about sender-side rejections, and pause the campaign when too much fails."""
    campaign = get_campaign(campaign_id)
    settings = current_app.config["KAIRAN"].sending
    if sender_rejections:
        campaign.notice = _("The relay refused mail because of the sender, not the recipients (check the "
                            "sending domain's DKIM, SPF and DMARC records and the relay's account): %(reply)s",
                            reply=sender_rejections[-1])
    if last_failure is None:  # nothing failed in this batch: the campaign's share cannot have grown
        db.session.commit()
        return
    counts = queries.progress(campaign_id)
    tried = counts["sent"] + counts["failed"]
    failed = counts["failed"]
    if (campaign.status == CampaignStatus.RUNNING and failed >= settings.pause_failures
            and failed * 100 >= settings.pause_failure_percent * tried):
        campaign.status = CampaignStatus.PAUSED
        campaign.notice = _("Paused itself: %(failed)s of %(tried)s messages failed. The last answer was: %(reply)s",
                            failed=failed, tried=tried, reply=last_failure or "-")
    db.session.commit()


def campaign_notices() -> list[Notice]:
    """The dashboard's notices: campaigns that paused themselves or met a rejection about the sender."""
    rows = db.session.execute(select(Campaign.id, Campaign.name, Campaign.notice).where(
        Campaign.notice.is_not(None), Campaign.status.in_([CampaignStatus.RUNNING, CampaignStatus.PAUSED]))
        .order_by(Campaign.updated_at.desc()).limit(5))
    return [Notice(f"{name}: {notice}", url_for("compose.campaign_preview", campaign_id=campaign_id))
            for campaign_id, name, notice in rows]
