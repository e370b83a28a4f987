"""CSV exports of a campaign's figures: the report (headline metrics, links, domains) and each recipient's activity.

Both stream through core/safecsv.py's csv_stream: UTF-8 with a BOM or CP932, formula cells defused.
The activity export reads deliveries by id in batches (keyset), so memory stays flat at any size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.db import db
from core.safecsv import csv_stream
from lists.export import EXPORT_BATCH
from lists.export_columns import header_row, local_time
from lists.models import Subscriber
from mailer.models import Delivery, DeliveryStatus
from tracking.metrics import CampaignReport
from tracking.models import Bounce, BounceType

ACTIVITY_HEADER = ["email", "status", "sent_at", "first_open_at", "first_click_at", "bounce", "bounce_status",
                   "complaint", "unsubscribed_at"]
LINK_HEADER = ["url", "clicks", "unique_clicks", "machine_clicks"]
DOMAIN_HEADER = ["domain", "recipients", "sent", "bounced", "opened", "clicked"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def report_csv(report: CampaignReport, encoding: str, language: str = "en") -> Iterator[bytes]:
    """Yield the report as one CSV in three blocks, each under its own header row, a blank row between."""
    metrics = report.metrics.as_dict()
    rows: list[Sequence[str]] = [[name, _cell(value)] for name, value in metrics.items()]
    rows += [[], header_row(LINK_HEADER, language)]
    rows += [[link.url, _cell(link.clicks), _cell(link.unique_clicks), _cell(link.machine_clicks)]
             for link in report.links]
    rows += [[], header_row(DOMAIN_HEADER, language)]
    rows += [[d.domain, *(_cell(n) for n in (d.recipients, d.sent, d.bounced, d.opened, d.clicked))]
             for d in report.domains]
    return csv_stream(header_row(["metric", "value"], language), [rows], encoding)


def activity_csv(campaign_id: int, encoding: str, language: str = "en") -> Iterator[bytes]:
    """Yield one row per recipient: address, status, when sent, first open and click, bounce, complaint, unsubscribe."""
    return csv_stream(header_row(ACTIVITY_HEADER, language), _activity_batches(campaign_id), encoding)


def _activity_batches(campaign_id: int) -> Iterator[list[list[str]]]:
    stmt = (select(Delivery.id, Subscriber.email, Delivery.status, Delivery.sent_at, Delivery.first_open_at,
                   Delivery.first_click_at, Delivery.unsubscribed_at)
            .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.campaign_id == campaign_id).order_by(Delivery.id).limit(EXPORT_BATCH))
    last_id = 0
    while True:
        batch = db.session.execute(stmt.where(Delivery.id > last_id)).all()
        if not batch:
            return
        bounces = _bounces_of([row.id for row in batch])
        yield [[row.email or "", DeliveryStatus(row.status).value, _cell(row.sent_at), _cell(row.first_open_at),
                _cell(row.first_click_at), *bounces.get(row.id, ("", "", "")), _cell(row.unsubscribed_at)]
               for row in batch]
        last_id = batch[-1].id


def _bounces_of(delivery_ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """Per delivery: its bounce (hard wins over soft; a sender refusal says so), that bounce's status, a complaint."""
    found: dict[int, tuple[str, str, str]] = {}
    rank = {"": 0, "soft": 1, "soft (sender)": 1, "hard": 2}
    for delivery_id, kind, sender_refused, status in db.session.execute(
            select(Bounce.delivery_id, Bounce.type, Bounce.sender_refused, Bounce.status)
            .where(Bounce.delivery_id.in_(delivery_ids)).order_by(Bounce.id)):
        if delivery_id is None:
            continue
        bounce, bounce_status, complaint = found.get(delivery_id, ("", "", ""))
        if kind == BounceType.COMPLAINT:
            complaint = "yes"
        else:
            label = "soft (sender)" if sender_refused else BounceType(kind).value
            if rank[label] >= rank[bounce]:
                bounce, bounce_status = label, status
        found[delivery_id] = (bounce, bounce_status, complaint)
    return found
