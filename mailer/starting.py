"""Starting a campaign's send: its audience fixed once, its links recorded, its batches queued.

"Send now" (mailer/sending.py) and a scheduled start (mailer/scheduling.py) both start here, with the
sender's details the campaign keeps (fixed where a person started or scheduled it). An A/B-tested campaign
fixes its whole audience at the start too, but sends its test phase's share only: the rest is held, and choosing the
winner (``send_winner``) releases it, so no million-row insert waits for the winner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _

from core.db import db, utcnow
from core.signals import campaign_started, winner_chosen
from lists.errors import NoListsChosenError
from lists.models import Segment
from mailer import ab, queries
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
    test = ab.test_of(campaign)
    versions = [ab.as_sent(campaign, variant) for variant in test.variants] if test else [campaign]
    # A template error or a missing footer, in any variant, stops it here.
    compiled = [require_legal_details(version) for version in versions]
    first_start = campaign.started_at is None
    if first_start:
        split = ab.split_of(test) if test else None
        campaign.to_send = queries.materialise(campaign.id, campaign.lists, segment_rules(campaign), split=split,
                                               send_times=send_times_of(campaign))
        campaign.started_at = utcnow()
        if test:
            ab.decide_at(test)
    campaign.status = CampaignStatus.RUNNING
    campaign.notice = None  # whatever paused it was looked at
    if first_start:
        campaign_started.send(campaign_id=campaign.id)
    db.session.commit()
    for each in compiled:
        save_links(campaign, each.urls)
    queue_batches(campaign)


def queue_batches(campaign: Campaign) -> None:
    """Queue a batch job for each range of the campaign's queued deliveries (and finish it if none is left)."""
    for first_id, last_id in queries.delivery_ranges(campaign.id, batch_size()):
        enqueue_batch(campaign.id, first_id, last_id)
    finish_if_done(campaign.id)


def send_winner(campaign: Campaign, position: int, decided_by: str) -> int:
    """Choose an A/B test's winner and send it to the rest of the audience, held until now (queued at once while
    the campaign runs; a paused one queues them when it resumes); return how many recipients that adds."""
    test = ab.claim_winner(campaign, position, decided_by)
    held = queries.count_rest(campaign.id)
    if not held:  # a test started by Kairan before 2026-12-07 did not insert its rest at the start: it does now
        before = campaign.to_send
        campaign.to_send = queries.materialise(campaign.id, campaign.lists, segment_rules(campaign),
                                               split=ab.split_of(test), rest_only=True)
        held = campaign.to_send - before
    times = send_times_of(campaign)
    if times is not None:  # the rest's hours start from now, not from the test phase's start
        queries.retime_rest(campaign.id, times)
    db.session.commit()
    winner_chosen.send(campaign_id=campaign.id)
    if campaign.status == CampaignStatus.RUNNING:
        queue_batches(campaign)
    return held


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
    """The rules that narrow the campaign's lists: its segment's as saved, and a resend's "missed" (None: every
    subscriber of its lists)."""
    segment = db.session.get(Segment, campaign.segment_id) if campaign.segment_id is not None else None
    rules = segment.rules if segment else None
    if campaign.resend_of is None:
        return rules
    missed = missed_rule(campaign.resend_of, campaign.resend_machine_openers)
    return {"match": "all", "rules": [missed, rules]} if rules else missed


def missed_rule(campaign_id: int, machine_openers: bool) -> dict[str, Any]:
    """The segment rule (tracking's "missed") of a campaign's recipients who neither opened nor clicked it as a person,
    and did not bounce, complain or unsubscribe; with ``machine_openers``, also those only machines opened."""
    return {"field": "missed", "op": "did", "value": {"campaign_id": campaign_id, "machine_openers": machine_openers}}
