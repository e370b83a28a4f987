"""Bounces and complaints, whichever way they arrive: stored, tied to their delivery, and acted on.

Every source (the inbound SMTP server, mailbox polling, provider webhooks, the API) turns what it
received into a ``bounce_parser.Intake`` and calls ``record``. The rules are docs/architecture.md's:

- a hard bounce or a complaint suppresses the address at once;
- soft bounces suppress once an address has KAIRAN_SOFT_BOUNCES of them within
  KAIRAN_SOFT_BOUNCE_DAYS (stricter settings for Japanese carrier addresses);
- a refusal because of the sender never suppresses: it becomes the campaign's notice.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from flask_babel import gettext as _
from sqlalchemy import CursorResult, Select, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import defer

from core.db import db, utcnow
from core.errors import NotAChoiceError, NotFoundError, ValidationError
from core.signals import bounces_stored
from core.tokens import Mark, read_mark_token
from core.validation import choice
from lists.addresses import CARRIER_DOMAINS, address_key
from lists.errors import InvalidAddressError, SuppressedAlreadyError
from lists.models import Subscriber, SuppressionReason
from lists.suppressions import add_suppression
from mailer.models import Campaign, Delivery
from tracking.bounce_parser import MAX_BYTES, Intake, Kind, Verdict, parse
from tracking.models import Bounce, BounceType, UnreadMail
from tracking.settings import BOUNCES

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


def record(intake: Intake, source: str, raw: bytes | None = None, meta: dict[str, Any] | None = None,
           authenticated: bool = False) -> list[Bounce]:
    """Store what an inbound report says and apply the bounce rules; return the bounces stored.

    An unreadable message is kept raw (UnreadMail) for a person to look at; auto-replies and
    delivery reports store nothing. A report that names a delivery (its VERP token, or the
    Message-ID of the message it returns) is tied to that delivery and its campaign.

    Anyone can send mail to the bounce address: a report tied to none of our deliveries is only
    acted on (suppression) when its source proved who it is (``authenticated``: a webhook with a
    valid signature, an API user). Otherwise it is stored for a person to see, and suppresses nothing.
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
    else:  # a delay warning is not a bounce: the message may still arrive (and a final report follows if not)
        reports = [Report(failure.address, BounceType.HARD if failure.verdict == Verdict.HARD else BounceType.SOFT,
                          failure.verdict == Verdict.SENDER, failure.status, failure.diagnostic)
                   for failure in intake.failures if not failure.delayed]
    stored = [bounce for report in reports
              if (bounce := _store(report, delivery, source, {"rule": intake.rule, **(meta or {})})) is not None]
    if stored:
        db.session.flush()  # their ids, for the signal
        bounces_stored.send(ids=[bounce.id for bounce in stored])
    db.session.commit()
    if delivery is None and not authenticated:
        log.info("a %s report tied to no delivery of ours was stored, not acted on", source)
        return stored
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
    if intake.message_id:  # deliveries keep it as sent, in angle brackets; reports may drop them
        bare = intake.message_id.strip("<>")
        return db.session.scalar(select(Delivery).where(Delivery.message_id.in_([f"<{bare}>", bare])).limit(1))
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
    """Apply docs/architecture.md's bounce rules to one stored bounce."""
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
    settings = BOUNCES.current()
    carrier = email.rpartition("@")[2] in CARRIER_DOMAINS
    count, days = ((settings.carrier_soft_count, settings.carrier_soft_days) if carrier
                   else (settings.soft_count, settings.soft_days))
    recent = db.session.scalar(select(func.count(Bounce.id)).where(
        Bounce.email == email, Bounce.type == BounceType.SOFT, Bounce.sender_refused.is_(False),
        Bounce.created_at >= utcnow() - timedelta(days=days)))
    return (recent or 0) >= count


def forget_subscribers(_sender: object = None, *, ids: Sequence[int]) -> None:
    """A deleted subscriber's bounces stay counted for their campaigns, without the address."""
    db.session.execute(update(Bounce).where(Bounce.subscriber_id.in_(ids)).values(email="")
                       .execution_options(synchronize_session=False))


def _suppress(email: str, reason: SuppressionReason, source: str) -> None:
    with contextlib.suppress(SuppressedAlreadyError):  # nothing more to do
        try:
            add_suppression(email, reason, source)
        except InvalidAddressError:  # an address we could never mail in the first place
            log.info("bounce for %r not suppressed: not a valid address", email)


# --- reading and deleting (the bounces API and page) ---------------------------------------------------------

ORDERINGS = {"email": Bounce.email, "campaign_name": Campaign.name, "source": Bounce.source,
             "created_at": Bounce.created_at}


def bounces_query(*, campaign_id: int | None = None, source: str = "", kind: str = "", subscriber_id: int | None = None,
                  order_by: str = "created_at", order: str = "desc") -> Select[Any]:
    """Return bounces as listmonk filters and orders them (plus a filter by type); bad orderings are refused."""
    if order_by not in ORDERINGS:
        raise NotAChoiceError(_("order_by must be one of: %(allowed)s.", allowed=", ".join(ORDERINGS)))
    if order.lower() not in ("asc", "desc"):
        raise NotAChoiceError(_("order must be asc or desc."))
    bounce_type = choice(BounceType, kind, "type")
    column, descending = ORDERINGS[order_by], order.lower() == "desc"
    stmt = (select(Bounce).outerjoin(Campaign, Campaign.id == Bounce.campaign_id)
            .order_by(column.desc() if descending else column.asc(), Bounce.id.desc() if descending else Bounce.id))
    if campaign_id is not None:
        stmt = stmt.where(Bounce.campaign_id == campaign_id)
    if source:
        stmt = stmt.where(Bounce.source == source)
    if bounce_type is not None:
        stmt = stmt.where(Bounce.type == bounce_type)
    if subscriber_id is not None:
        stmt = stmt.where(Bounce.subscriber_id == subscriber_id)
    return stmt


def bounce_sources() -> list[str]:
    """Return every source some stored bounce came from (the page's source filter)."""
    return list(db.session.scalars(select(Bounce.source).distinct().order_by(Bounce.source)))


def bounce_dicts(bounces: list[Bounce]) -> list[dict[str, Any]]:
    """Serialise bounces in listmonk's shape, plus Kairan's reason fields; two queries for the whole page."""
    subscriber_uuids: dict[int, str] = {row.id: row.uuid for row in db.session.execute(
        select(Subscriber.id, Subscriber.uuid).where(
            Subscriber.id.in_({b.subscriber_id for b in bounces if b.subscriber_id is not None})))}
    campaigns = {row.id: row for row in db.session.execute(select(Campaign.id, Campaign.name, Campaign.uuid).where(
        Campaign.id.in_({b.campaign_id for b in bounces if b.campaign_id is not None})))}
    return [{
        "id": bounce.id, "type": bounce.type.value, "source": bounce.source, "meta": bounce.meta or {},
        "created_at": bounce.created_at.isoformat(), "email": bounce.email, "subscriber_id": bounce.subscriber_id,
        "subscriber_uuid": subscriber_uuids.get(bounce.subscriber_id) if bounce.subscriber_id else None,
        "campaign": ({"id": campaign.id, "name": campaign.name}
                     if (campaign := campaigns.get(bounce.campaign_id or 0)) else None),
        "campaign_uuid": campaign.uuid if campaign else None,
        "status": bounce.status, "diagnostic": bounce.diagnostic, "sender_refused": bounce.sender_refused,
        "delivery_id": bounce.delivery_id,
    } for bounce in bounces]


def get_bounce(bounce_id: int) -> Bounce:
    """Return one bounce, or raise NotFoundError."""
    bounce = db.session.get(Bounce, bounce_id)
    if bounce is None:
        raise NotFoundError(_("Bounce not found."))
    return bounce


def delete_bounces(ids: list[int] | None = None, *, subscriber_id: int | None = None, everything: bool = False) -> int:
    """Delete bounces by id, or a subscriber's, or all of them; return how many went.

    Suppressions they caused stay (lift them on the suppression list); deleted soft bounces no longer
    count towards the threshold.
    """
    stmt = delete(Bounce)
    if subscriber_id is not None:
        stmt = stmt.where(Bounce.subscriber_id == subscriber_id)
    elif not everything:
        if not ids:
            raise ValidationError(_("Name the bounces to delete (id), or ask for all of them (all=true)."))
        stmt = stmt.where(Bounce.id.in_(ids))
    result = cast(CursorResult[Any], db.session.execute(stmt))
    db.session.commit()
    return int(result.rowcount or 0)


def unread_mail(limit: int) -> list[UnreadMail]:
    """Return the newest messages intake could not read, without their raw bytes loaded."""
    return list(db.session.scalars(select(UnreadMail).options(defer(UnreadMail.raw))
                                   .order_by(UnreadMail.id.desc()).limit(limit)))


def get_unread_mail(unread_id: int) -> UnreadMail:
    """Return one unread message, or raise NotFoundError."""
    unread = db.session.get(UnreadMail, unread_id)
    if unread is None:
        raise NotFoundError(_("Message not found."))
    return unread


def delete_unread_mail(unread_id: int) -> None:
    """Delete one unread message (a person looked at it)."""
    db.session.delete(get_unread_mail(unread_id))
    db.session.commit()
