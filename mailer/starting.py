"""Starting a campaign's send: its audience fixed once, its links recorded, its batches queued.

"Send now" (mailer/sending.py) and a scheduled start (mailer/scheduling.py) both start here, with the
sender's details the campaign keeps (fixed where a person started or scheduled it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _

from core.db import db, utcnow
from lists.errors import NoListsChosenError
from lists.models import Segment
from mailer import queries
from mailer.batch_job import batch_size, enqueue_batch, finish_if_done
from mailer.campaigns import require_legal_details, save_links
from mailer.models import Campaign, CampaignStatus
from mailer.template_context import fix_sender


def start(campaign: Campaign) -> None:
    """Fix the audience (first start only), record the links, and queue the batches."""
    if not campaign.lists:
        raise NoListsChosenError(_("Choose at least one list to send to."))
    if campaign.sender_address is None:  # scheduled before its sender's details were kept: this machine's
        fix_sender(campaign)
    compiled = require_legal_details(campaign)  # a template error or a missing footer stops it here
    first_start = campaign.started_at is None
    if first_start:
        campaign.to_send = queries.materialise(campaign.id, campaign.lists, segment_rules(campaign),
                                               send_times_of(campaign))
        campaign.started_at = utcnow()
    campaign.status = CampaignStatus.RUNNING
    campaign.notice = None  # whatever paused it was looked at
    db.session.commit()
    save_links(campaign, compiled.urls)
    for first_id, last_id in queries.delivery_ranges(campaign.id, batch_size()):
        enqueue_batch(campaign.id, first_id, last_id)
    finish_if_done(campaign.id)


# What tracking, which knows when people open, gives a send-time-optimised campaign: its readers' send times.
SendTimesFor = Callable[[Campaign], queries.SendTimes]
SEND_TIMES = "kairan_send_times"


def register_send_times(app: Flask, provider: SendTimesFor) -> None:
    """Let a higher package give send-time-optimised campaigns their readers' times (tracking: their opens)."""
    app.extensions[SEND_TIMES] = provider


def send_times_of(campaign: Campaign) -> queries.SendTimes | None:
    """The readers' send times of a send-time-optimised campaign (None: every one at once)."""
    provider: SendTimesFor | None = current_app.extensions.get(SEND_TIMES)
    return provider(campaign) if campaign.send_time_optimised and provider else None


def segment_rules(campaign: Campaign) -> Any:
    """The rules of the campaign's segment, as saved (None: every subscriber of its lists)."""
    if campaign.segment_id is None:
        return None
    segment = db.session.get(Segment, campaign.segment_id)
    return segment.rules if segment else None
