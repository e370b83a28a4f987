"""Bounces and complaints, whichever way they arrive: stored, tied to their delivery, and acted on.

Every source (the inbound SMTP server, mailbox polling, provider webhooks, the API) turns what it
received into a ``bounce_parser.Intake`` and calls ``record``. The rules are DESIGN.md's:

- a hard bounce or a complaint suppresses the address at once;
- soft bounces suppress once an address has KAIRAN_SOFT_BOUNCES of them within
  KAIRAN_SOFT_BOUNCE_DAYS (stricter settings for Japanese carrier addresses);
- a refusal because of the sender never suppresses: it becomes the campaign's notice.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core.db import db, utcnow
from core.errors import ConflictError, ValidationError
from core.tokens import Mark, read_mark_token
from lists.addresses import CARRIER_DOMAINS, address_key
from lists.models import Subscriber, SuppressionReason
from lists.suppressions import add_suppression
from mailer.models import Campaign, Delivery
from tracking.bounce_parser import MAX_BYTES, Intake, Kind, Verdict, parse
from tracking.models import Bounce, BounceType, UnreadMail

log = logging.getLogger(__name__)


def receive(raw: bytes, source: str) -> list[Bounce]:
    """Read one inbound message and record it: the entry point of the SMTP server and mailbox polling.

    Raises SQLAlchemyError only (the database is unreachable, say), so the caller keeps the message
    to try again: the SMTP server answers 451 and the sender retries, a mailbox keeps it. Any other
    failure keeps the raw message in unread_mail, so one odd message never blocks the rest.
    """
    try:
        return record(parse(raw), source, raw=raw)
    except SQLAlchemyError:
        db.session.rollback()
        raise
    except Exception as error:  # a bug here must not lose the message nor stop intake
        log.exception("recording a %s message of %d bytes failed; it is kept in unread mail", source, len(raw))
        db.session.rollback()
        db.session.add(UnreadMail(source=source[:40], reason=f"intake failed: {type(error).__name__}: {error}",
                                  raw=raw[:MAX_BYTES]))
        db.session.commit()
        return []


def record(intake: Intake, source: str, raw: bytes | None = None, meta: dict[str, Any] | None = None) -> list[Bounce]:
    """Store what an inbound report says and apply the bounce rules; return the bounces stored.

    An unreadable message is kept raw (UnreadMail) for a person to look at; auto-replies and
    delivery reports store nothing. A report that names a delivery (its VERP token, or the
    Message-ID of the message it returns) is tied to that delivery and its campaign.
    """
    if intake.kind == Kind.MALFORMED:
        db.session.add(UnreadMail(source=source[:40], reason=intake.reason, raw=(raw or b"")[:MAX_BYTES]))
        db.session.commit()
        return []
    if intake.kind not in (Kind.BOUNCE, Kind.COMPLAINT):
        return []
    delivery = _delivery(intake)
    if intake.kind == Kind.COMPLAINT:
        reports = [Report(address, BounceType.COMPLAINT, diagnostic=intake.feedback_type or "")
                   for address in intake.complained or ("",)]
    else:
        reports = [Report(failure.address, BounceType.HARD if failure.verdict == Verdict.HARD else BounceType.SOFT,
                          failure.verdict == Verdict.SENDER, failure.status, failure.diagnostic)
                   for failure in intake.failures]
    stored = [bounce for report in reports
              if (bounce := _store(report, delivery, source, {"rule": intake.rule, **(meta or {})})) is not None]
    db.session.commit()
    for bounce in stored:
        _act(bounce)
    return stored


def _delivery(intake: Intake) -> Delivery | None:
    """The delivery a report is about: its signed VERP token first, else the returned Message-ID."""
    if intake.token:
        ids = read_mark_token(Mark.BOUNCE, intake.token)
        if ids is not None:
            return db.session.get(Delivery, ids[0])
        log.warning("a bounce carried a VERP token not signed here: %s", intake.token)  # forged: ignored
    if intake.message_id:
        return db.session.scalar(select(Delivery).where(Delivery.message_id == intake.message_id).limit(1))
    return None


@dataclass(frozen=True)
class Report:
    """What a report says about one recipient."""

    address: str
    type: BounceType
    sender_refused: bool = False
    status: str = ""
    diagnostic: str = ""


_QUOTED_LOCAL = re.compile(r'^"([^"]*)"@([^@]+)$')


def _store(report: Report, delivery: Delivery | None, source: str, meta: dict[str, Any]) -> Bounce | None:
    """Add one bounce row, unless this delivery already has a bounce of this type (two sources, one bounce)."""
    # A legacy carrier address comes back quoted ("taro..x."@docomo.ne.jp); subscribers keep it bare.
    address, kind = _QUOTED_LOCAL.sub(r"\1@\2", report.address), report.type
    subscriber = db.session.get(Subscriber, delivery.subscriber_id) if delivery and delivery.subscriber_id else None
    if subscriber is None and address:
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email_key == address_key(address)))
    # The delivery's own recipient is who bounced, even when a forwarding address is what the report names.
    email = address_key(subscriber.email if subscriber else address)
    if not email:
        log.info("a %s report named no recipient and no delivery of ours: nothing to record", kind)
        return None
    if delivery is not None and db.session.scalar(select(Bounce.id).where(
            Bounce.delivery_id == delivery.id, Bounce.type == kind).limit(1)) is not None:
        return None
    bounce = Bounce(email=email, subscriber_id=subscriber.id if subscriber else None,
                    campaign_id=delivery.campaign_id if delivery else None,
                    delivery_id=delivery.id if delivery else None, type=kind,
                    sender_refused=report.sender_refused, source=source[:40], status=report.status[:20],
                    diagnostic=report.diagnostic, meta=meta)
    db.session.add(bounce)
    return bounce


def _act(bounce: Bounce) -> None:
    """Apply DESIGN.md's bounce rules to one stored bounce."""
    origin = f"{bounce.source} bounce {bounce.id}"
    if bounce.sender_refused:
        if bounce.campaign_id is not None:
            campaign = db.session.get(Campaign, bounce.campaign_id)
            if campaign is not None:
                campaign.notice = _("A receiver refused mail because of the sender, not the recipient (check the "
                                    "sending domain's DKIM, SPF and DMARC records): %(reply)s",
                                    reply=f"{bounce.status} {bounce.diagnostic}".strip())
                db.session.commit()
        return
    if bounce.type == BounceType.COMPLAINT:
        _suppress(bounce.email, SuppressionReason.COMPLAINT, origin)
    elif bounce.type == BounceType.HARD:
        _suppress(bounce.email, SuppressionReason.HARD_BOUNCE, origin)
    elif soft_bounces_reached(bounce.email):
        _suppress(bounce.email, SuppressionReason.HARD_BOUNCE, origin)


def soft_bounces_reached(email: str) -> bool:
    """Tell whether an address has had as many soft bounces as its limit allows within its window."""
    settings = current_app.config["KAIRAN"].bounces
    carrier = email.rpartition("@")[2] in CARRIER_DOMAINS
    count, days = ((settings.carrier_soft_count, settings.carrier_soft_days) if carrier
                   else (settings.soft_count, settings.soft_days))
    recent = db.session.scalar(select(func.count(Bounce.id)).where(
        Bounce.email == email, Bounce.type == BounceType.SOFT, Bounce.sender_refused.is_(False),
        Bounce.created_at >= utcnow() - timedelta(days=days)))
    return (recent or 0) >= count


def _suppress(email: str, reason: SuppressionReason, source: str) -> None:
    with contextlib.suppress(ConflictError):  # suppressed already: nothing more to do
        try:
            add_suppression(email, reason, source)
        except ValidationError:  # an address we could never mail in the first place
            log.info("bounce for %r not suppressed: not a valid address", email)
