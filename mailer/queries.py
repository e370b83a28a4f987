"""Hot SQL of sending, named and kept together.

Materialising fixes a campaign's audience in one ``INSERT … SELECT``: the database walks the
subscriptions of the campaign's lists once and writes a delivery row per recipient, so a
million recipients never pass through Python. Who receives follows listmonk: on a double
opt-in list only confirmed subscriptions, on a single opt-in list every one not unsubscribed;
never a subscriber who is disabled or blocklisted, or whose address or domain is suppressed.
Each subscriber appears once (email_key is unique, so that is once per case-folded address)
however many of the lists they are on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    SmallInteger,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from core.db import commit_without_waiting_for_disk, db, utcnow
from core.signals import deliveries_sent
from lists.models import (
    ListOptin,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from lists.segment_rules import compile_rule
from mailer.models import ABTest, Delivery, DeliveryCount, DeliveryStatus


def _domain(email_key: Any) -> ColumnElement[str]:
    """The part of a case-folded address after its last @, in the running database's SQL."""
    # After the first @: carrier forms never hold a second one. No regex: this runs once per recipient.
    if db.engine.dialect.name == "postgresql":
        return func.split_part(email_key, "@", 2)
    return func.substr(email_key, func.instr(email_key, "@") + 1)


def receiving_domain_of(email_key: Any) -> ColumnElement[str]:
    """The receiving domain of an address column, what follows its last @, as mailer.throttle.receiving_domain says."""
    if db.engine.dialect.name == "sqlite":
        # rtrim strips every character but @ from the end, leaving the address up to its last @.
        return func.substr(email_key, func.length(func.rtrim(email_key, func.replace(email_key, "@", ""))) + 1)
    return func.reverse(func.split_part(func.reverse(email_key), "@", 1))


def _receiving(list_ids: Sequence[int]) -> Any:
    """The SELECT of subscriptions to these lists that receive campaigns (with their subscriber_id)."""
    receives = or_(Subscription.status == SubscriptionStatus.CONFIRMED,
                   and_(Subscription.status == SubscriptionStatus.UNCONFIRMED,
                        MailingList.optin == ListOptin.SINGLE))
    return (select(Subscription.subscriber_id).join(MailingList, MailingList.id == Subscription.list_id)
            .where(Subscription.list_id.in_(list_ids), receives))


def _mailable() -> list[ColumnElement[bool]]:
    """SQL: the subscriber is enabled, and neither their address nor its domain is suppressed."""
    # Two equality tests rather than one IN: each becomes a hashed anti-join on PostgreSQL, not a
    # scan of the suppressions per subscriber.
    address_suppressed = exists().where(Suppression.value == Subscriber.email_key)
    domain_suppressed = exists().where(Suppression.is_domain, Suppression.value == _domain(Subscriber.email_key))
    return [Subscriber.status == SubscriberStatus.ENABLED, ~address_suppressed, ~domain_suppressed]


def recipients(list_ids: Sequence[int], rules: Any = None) -> Any:
    """Return the SELECT of subscriber ids a campaign to these lists (and segment rules) reaches."""
    stmt = select(Subscriber.id).where(Subscriber.id.in_(_receiving(list_ids)), *_mailable())
    if rules:
        stmt = stmt.where(compile_rule(rules))
    return stmt


def still_receiving(list_ids: Sequence[int]) -> ColumnElement[bool]:
    """SQL: the subscriber is still one a campaign to these lists reaches, as its audience was fixed (unsubscribed,
    disabled, blocklisted or suppressed since: no longer). Checked per reader (correlated), for a batch's few."""
    subscribed = _receiving(list_ids).where(Subscription.subscriber_id == Subscriber.id).exists()
    return and_(subscribed, *_mailable())


def count_recipients(list_ids: Sequence[int], rules: Any = None) -> int:
    """Return how many recipients a campaign to these lists would have now."""
    return int(db.session.scalar(select(func.count()).select_from(recipients(list_ids, rules).subquery())) or 0)


_MATERIALISE_WORK_MEM = text("SET LOCAL work_mem TO '64MB'")

# An A/B test's keyed hash of a subscriber id, with two keys drawn once per test (mailer/ab.py): h₁ = (a·id + b) mod p,
# Carter and Wegman's universal family over the Mersenne prime p, then h = (h₁² + b) mod p. The affine step alone
# maps consecutive ids to an arithmetic progression, whose low digits fall in patterns (a test put every one of
# 60 consecutive subscribers in one variant); squaring breaks them, and counts then spread as random draws do.
# Integer arithmetic both databases do inside the INSERT … SELECT (they share no hash function): every value stays
# below 2³¹, so each product fits 63 bits.
HASH_PRIME = 2 ** 31 - 1
REST_VARIANT = 0  # an A/B test's rest of the audience: held until the winner is chosen, then sent it
BUCKETS = 10_000  # h mod BUCKETS: the test share is the buckets below share % of them; h / BUCKETS picks the variant


@dataclass(frozen=True)
class Split:
    """How an A/B test splits the audience: the buckets below the share are its test phase, spread over the variants
    (positions 1 to ``variants``); the other buckets are the rest of the audience (variant 0), held until the winner
    is chosen and then sent it (``held``)."""

    key_a: int
    key_b: int
    share: int  # percent; 100: every bucket is in the test
    variants: int

    def hash(self, subscriber_id: Any) -> ColumnElement[int]:
        """SQL: the subscriber's keyed hash, 0 to HASH_PRIME − 1."""
        key_b = literal(self.key_b, BigInteger)
        first = (subscriber_id * literal(self.key_a, BigInteger) + key_b) % HASH_PRIME
        return (first * first + key_b) % HASH_PRIME

    def variant(self, subscriber_id: Any) -> ColumnElement[int]:
        """SQL: the variant (position, 1 for A) the subscriber gets in the test phase, 0 when they are in the rest."""
        hashed = self.hash(subscriber_id)
        return case((hashed % BUCKETS < self.share * BUCKETS // 100, (hashed // BUCKETS) % self.variants + 1),
                    else_=literal(REST_VARIANT, SmallInteger))

    def rest(self, subscriber_id: Any) -> ColumnElement[bool]:
        """SQL: the subscriber is in the rest of the audience."""
        return self.variant(subscriber_id) == REST_VARIANT


@dataclass(frozen=True)
class SendTimes:
    """A send-time-optimised campaign's times (tracking/send_times.py): every reader's ``retry_at`` as inserted,
    then, given the campaign's id, an UPDATE that moves the readers with a time of their own to it."""

    others: datetime | None  # None: now
    own: Callable[[int], None]


def materialise(campaign_id: int, list_ids: Sequence[int], rules: Any = None, split: Split | None = None,
                send_times: SendTimes | None = None, *, rest_only: bool = False) -> int:
    """Insert one queued delivery per recipient (in the caller's transaction); return the campaign's deliveries.

    With an A/B test's ``split``, each with their variant: the test phase's, or 0 for the rest of the audience, held
    until the winner is chosen (``rest_only``: only the rest, for a test started before the rest was inserted with
    its test phase, by Kairan before 2026-12-07). With ``send_times``
    (send-time optimisation) the rows are inserted with the usual time as their ``retry_at`` ("not sent before
    then"), and those whose readers have their own time are then moved to it.
    """
    domain = receiving_domain_of(Subscriber.email_key).label("domain")  # the report counts recipients by it
    stmt = recipients(list_ids, rules).add_columns(domain)
    variant: Any = literal(0, SmallInteger)  # no test
    if split is not None:
        variant = split.variant(Subscriber.id)
        if rest_only:
            stmt = stmt.where(split.rest(Subscriber.id))
    chosen = stmt.add_columns(variant.label("variant")).subquery()
    columns = Delivery.__table__.c
    if db.engine.dialect.name == "postgresql":
        # The default 4 MB makes the million-member hash joins spill to disk in batches; this transaction only.
        db.session.execute(_MATERIALISE_WORK_MEM)
    rows = select(literal(campaign_id), chosen.c.id, chosen.c.domain,
                  literal(DeliveryStatus.QUEUED, columns.status.type), literal(0),
                  literal(utcnow(), columns.created_at.type), chosen.c.variant,
                  literal(send_times.others if send_times else None, columns.retry_at.type))
    db.session.execute(insert(Delivery).from_select(
        ["campaign_id", "subscriber_id", "domain", "status", "attempts", "created_at", "variant", "retry_at"], rows))
    if send_times is not None:
        send_times.own(campaign_id)
    # Counted, not taken from rowcount: SQLAlchemy reports -1 for INSERT … SELECT on psycopg.
    return int(db.session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id)) or 0)


def count_rest(campaign_id: int) -> int:
    """How many of an A/B-tested campaign's deliveries are its rest's (variant 0: held for the winner, or sent it)."""
    return int(db.session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id,
                                                            Delivery.variant == REST_VARIANT)) or 0)


def count_held(campaign_id: int) -> int:
    """How many of a campaign's deliveries wait for its A/B test's winner (none once it is chosen)."""
    return int(db.session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id,
                                                            Delivery.status == DeliveryStatus.QUEUED,
                                                            _held(campaign_id))) or 0)


def retime_rest(campaign_id: int, send_times: SendTimes) -> None:
    """Give the rest of a send-time-optimised A/B test's audience its send times as of now (its winner chosen)."""
    db.session.execute(update(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.variant == REST_VARIANT,
                                              Delivery.status == DeliveryStatus.QUEUED)
                       .values(retry_at=send_times.others).execution_options(synchronize_session=False))
    send_times.own(campaign_id)


def forget_subscribers(_sender: object = None, *, ids: Sequence[int]) -> None:
    """Keep deleted subscribers' deliveries for the campaigns' counts, without saying whose they were
    (the receiving domain stays: the reports count recipients per domain)."""
    db.session.execute(update(Delivery).where(Delivery.subscriber_id.in_(ids)).values(subscriber_id=None)
                       .execution_options(synchronize_session=False))


def _due(now: datetime, campaign_id: int) -> ColumnElement[bool]:
    """Deliveries of a campaign a job may send now: queued and not waiting for a retry (nor for an A/B test's winner),
    or leased by a worker that died."""
    waited = or_(Delivery.retry_at.is_(None), Delivery.retry_at <= now)
    return or_(and_(Delivery.status == DeliveryStatus.QUEUED, waited, ~_held(campaign_id)),
               and_(Delivery.status == DeliveryStatus.SENDING, Delivery.leased_until < now))


def _held(campaign_id: int) -> ColumnElement[bool]:
    """SQL: the delivery is of the rest of an A/B test's audience (variant 0), held while its winner is not chosen.

    The test's row is read once per statement (an uncorrelated subquery), not once per delivery.
    """
    undecided = exists().where(ABTest.campaign_id == campaign_id, ABTest.winner.is_(None))
    return and_(Delivery.variant == REST_VARIANT, undecided)


@dataclass(frozen=True)
class Claimed:
    """A delivery a job holds the lease of, with what its retry decisions need."""

    id: int
    subscriber_id: int | None
    attempts: int
    first_failed_at: datetime | None
    template_data: dict[str, Any] | None = None  # an automation run's trigger event, for its message
    run_id: int = 0  # the automation run it is for (0: a campaign's own recipient)
    variant: int = 0  # the A/B test's variant it gets (0: no test)


def claim(campaign_id: int, first_id: int, last_id: int, lease_seconds: int) -> list[Claimed]:
    """Lease a batch's due deliveries; return them by id.

    One UPDATE … RETURNING, so two workers never hold the same row: on PostgreSQL the rows are
    picked FOR UPDATE SKIP LOCKED (another claimer's rows are passed over, not waited for); on
    SQLite the write lock makes the statement atomic.
    """
    now = utcnow()
    # "+ 0" keeps the planner on the primary key's id range (a few hundred rows): SQLite would otherwise
    # walk the campaign's whole (campaign_id, status) index, a million entries, holding the write lock.
    ids = select(Delivery.id).where(Delivery.id.between(first_id, last_id), Delivery.campaign_id + 0 == campaign_id,
                                    _due(now, campaign_id))
    if db.engine.dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    stmt = (update(Delivery).where(Delivery.id.in_(ids.scalar_subquery()))
            .values(status=DeliveryStatus.SENDING, leased_until=now + timedelta(seconds=lease_seconds))
            .returning(Delivery.id, Delivery.subscriber_id, Delivery.attempts, Delivery.first_failed_at,
                       Delivery.template_data, Delivery.run_id, Delivery.variant))
    rows = [Claimed(*row) for row in db.session.execute(stmt.execution_options(synchronize_session=False))]
    db.session.commit()
    return sorted(rows, key=lambda row: row.id)


# The send loop's statement, built once: a plain table UPDATE, not the ORM's bulk path (a third of its cost).
_DELIVERIES = Delivery.__table__
_RECORD = (update(_DELIVERIES).where(_DELIVERIES.c.id == bindparam("delivery_id"))
           .values(status=bindparam("status"), sent_at=bindparam("sent_at"), message_id=bindparam("message_id"),
                   smtp_reply=bindparam("reply"), leased_until=None, retry_at=None))


class Recorder:
    """Records how deliveries ended, for the SMTP connections of one job, committing together what arrives together.

    ``record`` returns once that delivery's row is committed, so each connection still records each
    accepted message before it sends the next. Whoever arrives while no commit is running commits
    everything waiting (its own row included) in one transaction; the others wait for that commit or
    take the next turn. Eight connections then share one commit instead of making eight.
    """

    def __init__(self) -> None:
        self.turn = threading.Condition()
        self.waiting: list[_Row] = []
        self.committing = False

    def record(self, delivery_id: int, status: DeliveryStatus, *, message_id: str | None = None,
               reply: str | None = None) -> None:
        """Record one delivery's end (sent or failed); raise what the commit raised if it failed."""
        row = _Row({"delivery_id": delivery_id, "status": status,
                    "sent_at": utcnow() if status == DeliveryStatus.SENT else None,
                    "message_id": message_id, "reply": reply})
        with self.turn:
            self.waiting.append(row)
            while self.committing and not row.done:
                self.turn.wait()
            if row.done:
                row.raise_error()
                return
            batch, self.waiting, self.committing = self.waiting, [], True
        error: Exception | None = None
        try:
            _record_rows([r.values for r in batch])
        except Exception as failed:  # noqa: BLE001 - every waiter of the batch gets it, re-raised in its thread
            db.session.rollback()
            error = failed
        with self.turn:
            for done in batch:
                done.done, done.error = True, error
            self.committing = False
            self.turn.notify_all()
        row.raise_error()


@dataclass
class _Row:
    values: dict[str, Any]
    done: bool = False
    error: Exception | None = None

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def _record_rows(rows: list[dict[str, Any]]) -> None:
    # A crash of PostgreSQL could lose the last fraction of a second of records, whose messages would
    # then go out again; a killed worker loses none.
    commit_without_waiting_for_disk()
    db.session.execute(_RECORD, rows)
    sent = [row["delivery_id"] for row in rows if row["status"] == DeliveryStatus.SENT]
    if sent:
        deliveries_sent.send(delivery_ids=sent)
    db.session.commit()


def retry_later(delivery: Claimed, at: datetime, reply: str) -> None:
    """Put a delivery back in the queue after a temporary failure, to be tried again from ``at``."""
    db.session.execute(update(Delivery).where(Delivery.id == delivery.id).values(
        status=DeliveryStatus.QUEUED, attempts=delivery.attempts + 1, retry_at=at, smtp_reply=reply,
        first_failed_at=delivery.first_failed_at or utcnow(), leased_until=None))
    db.session.commit()


def defer(delivery_ids: Sequence[int], until: datetime) -> None:
    """Put leased deliveries back until a time (a throttled domain, quiet hours, no relay up): no attempt counted."""
    if delivery_ids:
        db.session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids),
                                                  Delivery.status == DeliveryStatus.SENDING)
                           .values(status=DeliveryStatus.QUEUED, leased_until=None, retry_at=until))
        db.session.commit()


def release(delivery_ids: Sequence[int]) -> None:
    """Put leased deliveries back in the queue at once (a pause, or a job that stopped before they went out)."""
    if delivery_ids:
        db.session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids),
                                                  Delivery.status == DeliveryStatus.SENDING)
                           .values(status=DeliveryStatus.QUEUED, leased_until=None))
        db.session.commit()


def next_retry(campaign_id: int, first_id: int, last_id: int) -> datetime | None:
    """Return when the earliest waiting delivery of a batch may be tried again (None when none waits).

    It may have passed: a wait that ended while the batch was sending (a send-time slot, a back-off) is due
    now, and the batch must run again at once rather than at the next wait's end.
    """
    return db.session.scalar(select(func.min(Delivery.retry_at)).where(
        Delivery.campaign_id == campaign_id, Delivery.id.between(first_id, last_id),
        Delivery.status == DeliveryStatus.QUEUED, Delivery.retry_at.is_not(None), ~_held(campaign_id)))


def settle(campaign_id: int) -> None:
    """Count a campaign's deliveries by state and domain once, as it finishes (in the caller's transaction)."""
    db.session.execute(delete(DeliveryCount).where(DeliveryCount.campaign_id == campaign_id))
    domain = func.coalesce(Delivery.domain, "")
    db.session.execute(insert(DeliveryCount).from_select(
        ["campaign_id", "status", "domain", "deliveries"],
        select(Delivery.campaign_id, Delivery.status, domain, func.count()).where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.campaign_id, Delivery.status, domain)))


def progress(campaign_id: int) -> dict[str, int]:
    """Return how many deliveries of a campaign are in each state."""
    counts = dict(db.session.execute(select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
                                     .group_by(Delivery.status)).all())
    return {status.value: int(counts.get(status, 0)) for status in DeliveryStatus}


class DeliveryRange(NamedTuple):
    """The ids of one batch's deliveries, first to last (another campaign's may lie between: jobs filter)."""

    first_id: int
    last_id: int


def delivery_ranges(campaign_id: int, size: int, *, due_only: bool = False) -> list[DeliveryRange]:
    """Split a campaign's queued deliveries (or only those due now) into id ranges of ``size`` rows, never OFFSET."""
    waiting = (_due(utcnow(), campaign_id) if due_only
               else and_(Delivery.status == DeliveryStatus.QUEUED, ~_held(campaign_id)))
    numbered = select(Delivery.id, ((func.row_number().over(order_by=Delivery.id) - 1) // size).label("batch")).where(
        Delivery.campaign_id == campaign_id, waiting).subquery()
    bounds = select(func.min(numbered.c.id), func.max(numbered.c.id)).group_by(numbered.c.batch).order_by(
        numbered.c.batch)
    return [DeliveryRange(int(first), int(last)) for first, last in db.session.execute(bounds)]


def renew(delivery_ids: Sequence[int], lease_seconds: int) -> None:
    """Extend the lease of those of these deliveries still being sent (the others were recorded or put back)."""
    if delivery_ids:
        db.session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids),
                                                  Delivery.status == DeliveryStatus.SENDING)
                           .values(leased_until=utcnow() + timedelta(seconds=lease_seconds))
                           .execution_options(synchronize_session=False))
        db.session.commit()


def take_back_lapsed(campaign_id: int) -> list[int]:
    """Put back in the queue a campaign's deliveries whose lease lapsed (their worker died); return their ids.

    One UPDATE … RETURNING: of several callers at once, each row goes back to one of them.
    """
    stmt = (update(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.SENDING,
                                   Delivery.leased_until < utcnow())
            .values(status=DeliveryStatus.QUEUED, leased_until=None).returning(Delivery.id))
    ids = sorted(db.session.scalars(stmt.execution_options(synchronize_session=False)))
    db.session.commit()
    return ids


def stranded(campaign_id: int) -> list[int]:
    """A campaign's deliveries due now that no fresh batch covers: a lapsed lease, or a wait that has ended."""
    now = utcnow()
    return list(db.session.scalars(select(Delivery.id).where(
        Delivery.campaign_id == campaign_id,
        or_(and_(Delivery.status == DeliveryStatus.SENDING, Delivery.leased_until < now),
            and_(Delivery.status == DeliveryStatus.QUEUED, Delivery.retry_at <= now, ~_held(campaign_id))))
        .order_by(Delivery.id)))
