"""Finding campaigns: filters and order for the campaign list and GET /api/campaigns, listmonk's
campaign shape with list names and delivery counts, and the running campaigns' send rates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select

from core.campaign_stats import campaign_counts
from core.db import db, utcnow
from core.errors import NotAChoiceError
from lists.models import MailingList
from mailer import ab
from mailer.campaigns import campaign_as_dict
from mailer.models import Campaign, CampaignKind, CampaignStatus, Delivery, DeliveryStatus

# The campaigns listed as campaigns: an automation's message is listed with its automation (docs/automations.md).
LISTED = Campaign.kind == CampaignKind.REGULAR

ORDERINGS = {"name": Campaign.name, "status": Campaign.status, "created_at": Campaign.created_at,
             "updated_at": Campaign.updated_at}  # listmonk's sort fields; it sorts by created_at desc by default


def campaigns_query(query: str = "", statuses: Sequence[str] = (), tags: Sequence[str] = (),
                    order_by: str = "created_at", order: str = "desc") -> Select[Any]:
    """Return a select of campaigns as listmonk filters them: name or subject containing query, any of the
    statuses, all of the tags; unknown statuses or orderings are refused, naming what is allowed."""
    unknown = sorted(set(statuses) - {s.value for s in CampaignStatus})
    if unknown:
        raise NotAChoiceError(_("Unknown status %(status)s: use %(allowed)s.", status=unknown[0],
                                allowed=", ".join(s.value for s in CampaignStatus)))
    if order_by not in ORDERINGS:
        raise NotAChoiceError(_("order_by must be one of: %(allowed)s.", allowed=", ".join(ORDERINGS)))
    if order.lower() not in ("asc", "desc"):
        raise NotAChoiceError(_("order must be asc or desc."))
    column = ORDERINGS[order_by]
    descending = order.lower() == "desc"
    stmt = select(Campaign).where(LISTED).order_by(
        column.desc() if descending else column.asc(), Campaign.id.desc() if descending else Campaign.id.asc())
    if query.strip():
        stmt = stmt.where(or_(Campaign.name.icontains(query.strip(), autoescape=True),
                              Campaign.subject.icontains(query.strip(), autoescape=True)))
    if statuses:
        stmt = stmt.where(Campaign.status.in_([CampaignStatus(s) for s in statuses]))
    if tags:
        # Tags are a small JSON array per campaign, and campaigns number in the hundreds: filtered here.
        wanted = set(tags)
        ids = [i for i, have in db.session.execute(select(Campaign.id, Campaign.tags)) if wanted <= set(have or [])]
        stmt = stmt.where(Campaign.id.in_(ids))
    return stmt


def all_tags() -> list[str]:
    """Return every tag some campaign has, sorted (the list page's tag filter)."""
    return sorted({tag for tags in db.session.scalars(select(Campaign.tags)) for tag in tags or []})


def delivery_counts(campaigns: Sequence[Campaign]) -> dict[int, dict[str, int]]:
    """Return per started campaign how many deliveries are in each state (one grouped query)."""
    started = [c.id for c in campaigns if c.started_at is not None]
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {s.value: 0 for s in DeliveryStatus})
    if started:
        for campaign_id, status, count in db.session.execute(
                select(Delivery.campaign_id, Delivery.status, func.count()).where(Delivery.campaign_id.in_(started))
                .group_by(Delivery.campaign_id, Delivery.status)):
            counts[campaign_id][DeliveryStatus(status).value] = int(count)
    return counts


def campaign_dicts(campaigns: Sequence[Campaign], *, no_body: bool = False) -> list[dict[str, Any]]:
    """Serialise campaigns in listmonk's shape, with list names and counts loaded for all of them at once.

    views, clicks and bounces are the metrics' unique opens, unique clicks and bounced deliveries
    (tracking/metrics.py), for the whole page in a few small queries.
    """
    list_ids = {i for c in campaigns for i in c.lists}
    names = dict(db.session.execute(select(MailingList.id, MailingList.name).where(MailingList.id.in_(list_ids))).all()
                 ) if list_ids else {}
    counts = delivery_counts(campaigns)
    figures = campaign_counts([c.id for c in campaigns if c.started_at is not None])
    tests = ab.tests_of([c.id for c in campaigns])
    results = []
    for campaign in campaigns:
        row = campaign_as_dict(campaign)
        done = counts[campaign.id]
        row.update({
            "type": "regular", "messenger": "email",
            "lists": [{"id": i, "name": names.get(i, "")} for i in campaign.lists],
            "to_send": campaign.to_send, "sent": done["sent"], "failed": done["failed"],
            "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
            **{name: figures.get(campaign.id, {}).get(name, 0) for name in ("views", "clicks", "bounces")},
            "ab_test": ab.test_as_dict(campaign, tests.get(campaign.id)),  # Kairan's own: listmonk has no A/B tests
        })
        if no_body:
            row.update(body="", altbody=None)
        results.append(row)
    return results


def running_stats(campaign_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Return listmonk's running stats of these campaigns (every running one when none is named).

    rate is messages sent in the last minute, net_rate messages per minute since the start.
    """
    stmt = select(Campaign).order_by(Campaign.id)
    stmt = stmt.where(Campaign.id.in_(campaign_ids)) if campaign_ids else stmt.where(
        Campaign.status == CampaignStatus.RUNNING, LISTED)
    campaigns = list(db.session.scalars(stmt))
    counts = delivery_counts(campaigns)
    running = [c.id for c in campaigns if c.status == CampaignStatus.RUNNING]
    now = utcnow()
    last_minute = dict(db.session.execute(
        select(Delivery.campaign_id, func.count()).where(Delivery.campaign_id.in_(running),
                                                         Delivery.status == DeliveryStatus.SENT,
                                                         Delivery.sent_at >= now - timedelta(minutes=1))
        .group_by(Delivery.campaign_id)).all()) if running else {}
    stats = []
    for campaign in campaigns:
        sent = counts[campaign.id]["sent"]
        minutes = max((now - campaign.started_at).total_seconds() / 60, 1) if campaign.started_at else 1
        stats.append({"id": campaign.id, "status": campaign.status.value, "to_send": campaign.to_send, "sent": sent,
                      "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
                      "updated_at": campaign.updated_at.isoformat(), "rate": int(last_minute.get(campaign.id, 0)),
                      "net_rate": int(sent / minutes)})
    return stats
