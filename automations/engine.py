"""The engine: claims due runs in batches and moves each on through its steps until it waits or ends.

A batch is claimed in one statement (``claim``: FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's write lock makes
it atomic) and worked in waves: the runs at the same step of the same version go through that step together, so a
condition is one query for the batch, not one per run. Everything a batch did (the runs' new steps, their history,
each send step's delivery, the counters) is written in one transaction. A send step is a delivery row of the
step's message (a campaign of kind automation) keyed by (subscriber, message, run): the mailer's batch jobs send it
like any campaign's, with DKIM, throttles, tracking, unsubscribe, the legal footer and bounces; a worker killed
before the commit leaves the runs claimed and unmoved (another takes them when the claim lapses), one killed after
it has moved them past the step with the delivery written, never twice. Deliveries lost by Redis are queued again
by the mailer's reconciler.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
from flask import current_app
from sqlalchemy import and_, bindparam, func, insert, or_, select, text, update

from automations.event_rules import property_condition
from automations.graph import Definition, duration_minutes
from automations.models import Automation, AutomationStatus, AutomationVersion, Event, Run, RunState, RunStep, StepCount
from automations.timing import NoDateError, quiet_ends, wait_ends, window_opens
from core.db import db, utcnow
from core.queues import queue
from core.signals import runs_ended
from lists.models import Subscriber, SubscriberStatus, Subscription, SubscriptionStatus
from lists.segment_rules import compile_rule
from lists.suppressions import suppressed_addresses
from mailer.batch_job import batch_size, enqueue_batch, id_ranges
from mailer.models import Delivery
from mailer.throttle import receiving_domain

log = logging.getLogger(__name__)

BATCH = 1000  # runs claimed at once
CLAIM_SECONDS = 120  # a batch takes well under this; a worker killed holding it lets go after it
MAX_WAVES = 200  # steps one run may take in one wake-up (a cycle without a wait is refused on activation)
WAKE_JOB_ID = "automations-wake"
WAITING = text("automation_runs.state = 'waiting'")  # the due index's own condition
COUNTERS = ("entered", "passed", "sent", "converted", "exited", "failed")


@dataclass
class Moving:
    """One claimed run as the batch moves it: its row's values, and what happened to it."""

    id: int
    automation_id: int
    version_id: int
    subscriber_id: int
    step: str
    step_entered_at: datetime
    entered_at: datetime
    last_sent_at: datetime | None
    trigger: dict[str, Any]
    arrived: bool = False  # reached its step in this wake-up (else it was woken there)
    state: RunState = RunState.WAITING
    next_wake_at: datetime | None = None
    waiting_for: str | None = None
    reason: str | None = None
    stopped: bool = False  # waits or ended: no more steps this wake-up
    history: list[tuple[str, str, str | None]] = field(default_factory=list)  # (step, outcome, detail)


class Reader(NamedTuple):
    """What the steps read of a run's subscriber (a row, not an ORM object: a batch loads a thousand)."""

    id: int
    email: str
    status: SubscriberStatus
    attribs: dict[str, Any]


@dataclass
class Batch:
    """What one batch did, written together."""

    now: datetime
    timezone: str
    subscribers: dict[int, Reader]
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[tuple[int, str, str]] = field(default_factory=Counter)  # (version, step, counter) -> n
    notices: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # (subscriber, step, step's values)
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (subscriber, update step)


DEFINITIONS_KEPT = 256


def exit_waiting(condition: Any, reason: str) -> int:
    """End the waiting runs this SQL condition picks as exited, in one UPDATE outside the engine's batch (an exit
    event, an archived automation), and announce them as the engine announces its own (webhooks:
    automation.exited); return how many."""
    ended = db.session.execute(
        update(Run).where(Run.state == RunState.WAITING, condition)
        .values(state=RunState.EXITED, reason=reason, ended_at=utcnow(), next_wake_at=None)
        .returning(Run.id, Run.automation_id, Run.subscriber_id)).all()
    if ended:
        runs_ended.send(runs=[{"id": run_id, "automation_id": automation_id, "subscriber_id": subscriber_id,
                               "state": RunState.EXITED.value, "reason": reason}
                              for run_id, automation_id, subscriber_id in ended])
    return len(ended)


def definition_of(version_id: int) -> Definition:
    """A version's definition, read once per app (a worker's, a test's): versions never change."""
    kept: dict[int, Definition] = current_app.extensions.setdefault("automation_definitions", {})
    if version_id not in kept:
        version = db.session.get(AutomationVersion, version_id)
        if version is None:
            raise LookupError(version_id)
        if len(kept) >= DEFINITIONS_KEPT:
            del kept[next(iter(kept))]
        kept[version_id] = Definition(version.definition)
    return kept[version_id]


def wake(limit: int = BATCH, rounds: int = 100) -> int:
    """Job: move on the runs that are due, a batch at a time, until none is (or ``rounds`` batches); return how many
    steps were taken."""
    steps = 0
    for _round in range(rounds):
        claimed = claim(limit)
        if not claimed:
            break
        steps += advance(claimed)
    return steps


def queue_wake() -> None:
    """Have a worker wake the due runs now (a trigger that just started runs: no waiting for the periodic wake)."""
    queue().enqueue(wake, job_id=WAKE_JOB_ID)


def claim(limit: int) -> list[Moving]:
    """Claim up to ``limit`` due runs for this worker, oldest due first."""
    now = utcnow()
    live = select(Automation.id).where(Automation.status == AutomationStatus.ACTIVE)  # a paused one's runs wait
    # The state as a literal: SQLite (and PostgreSQL's generic plans) use the partial index only for the very text
    # of its WHERE, never for a bound parameter.
    due = (select(Run.id).where(WAITING, Run.next_wake_at <= now,
                                or_(Run.claimed_until.is_(None), Run.claimed_until < now),
                                # "+ 0": the due index leads, not the (automation, subscriber) key's.
                                (Run.automation_id + 0).in_(live.scalar_subquery()))
           .order_by(Run.next_wake_at).limit(limit))
    if db.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (update(Run).where(Run.id.in_(due.scalar_subquery()))
            .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            .returning(Run.id, Run.automation_id, Run.version_id, Run.subscriber_id, Run.step, Run.step_entered_at,
                       Run.entered_at, Run.last_sent_at, Run.trigger))
    rows = [Moving(*row) for row in db.session.execute(stmt.execution_options(synchronize_session=False))]
    db.session.commit()
    return rows


def advance(runs: Sequence[Moving]) -> int:
    """Move claimed runs on until each waits or ends, and write what they did in one transaction; return the steps
    taken."""
    now = utcnow()
    readers = db.session.execute(select(Subscriber.id, Subscriber.email, Subscriber.status, Subscriber.attribs)
                                 .where(Subscriber.id.in_({run.subscriber_id for run in runs})))
    batch = Batch(now, current_app.config["KAIRAN"].timezone, {row[0]: Reader(*row) for row in readers})
    for run in runs:
        _check_exits(run, batch)
    _check_trigger_lists(runs, batch)
    for run in runs:
        if run.step == "" and not run.stopped:  # just started: it enters the first step
            _arrive(run, definition_of(run.version_id).start, batch)
    taken = 0
    for _wave in range(MAX_WAVES):
        groups: dict[tuple[int, str], list[Moving]] = defaultdict(list)
        for run in runs:
            if not run.stopped:
                groups[(run.version_id, run.step)].append(run)
        if not groups:
            break
        for (version_id, key), group in groups.items():
            taken += len(group)
            STEP_HANDLERS[definition_of(version_id).step(key)["type"]](group, definition_of(version_id).step(key),
                                                                     batch)
    else:
        for run in runs:  # never for a checked definition; a safety net against a spinning batch
            if not run.stopped:
                _end(run, RunState.FAILED, batch, "too many steps in one go")
    _write(runs, batch)
    return taken


def _arrive(run: Moving, key: str | None, batch: Batch) -> None:
    """Take a run to its next step (None: the end of its path, completed)."""
    if key is None:
        _end(run, RunState.COMPLETED, batch, None)
        return
    run.step, run.step_entered_at, run.arrived = key, batch.now, True
    batch.counts[(run.version_id, key, "entered")] += 1


def _pass(run: Moving, key: str | None, batch: Batch, outcome: str = "passed", detail: str | None = None) -> None:
    run.history.append((run.step, outcome, detail))
    batch.counts[(run.version_id, run.step, "passed")] += 1
    _arrive(run, key, batch)


def _sleep(run: Moving, until: datetime, waiting_for: str | None = None) -> None:
    run.next_wake_at, run.waiting_for, run.stopped = until, waiting_for, True


def _end(run: Moving, state: RunState, batch: Batch, reason: str | None) -> None:
    run.state, run.reason, run.stopped, run.next_wake_at = state, reason, True, None
    outcome = {RunState.CONVERTED: "converted", RunState.EXITED: "exited", RunState.FAILED: "failed"}.get(state)
    if run.step and outcome:
        run.history.append((run.step, outcome, reason))
        batch.counts[(run.version_id, run.step, outcome)] += 1


def _check_exits(run: Moving, batch: Batch) -> None:
    """End a run whose subscriber is gone or blocklisted, or left the trigger list (when the rules say so)."""
    subscriber = batch.subscribers.get(run.subscriber_id)
    if subscriber is None:
        _end(run, RunState.EXITED, batch, "subscriber deleted")
    elif subscriber.status == SubscriberStatus.BLOCKLISTED:
        _end(run, RunState.EXITED, batch, "blocklisted")


def _check_trigger_lists(runs: Sequence[Moving], batch: Batch) -> None:
    """End the runs of list-triggered automations whose subscriber unsubscribed from that list (unless the
    automation's exit rules say to go on)."""
    by_list: dict[int, list[Moving]] = defaultdict(list)
    for run in runs:
        definition = definition_of(run.version_id)
        if not run.stopped and definition.trigger["kind"] == "subscribed" and definition.exit["on_unsubscribe"]:
            by_list[int(definition.trigger["list_id"])].append(run)
    for list_id, group in by_list.items():
        left = left_trigger_list(group, list_id)
        for run in group:
            if run.subscriber_id in left:
                _end(run, RunState.EXITED, batch, "unsubscribed from the list")


def opted_out(subscriber_ids: Iterable[int]) -> set[int]:
    """Those who unsubscribed from everything: an unsubscribe on record (from a list, or through a message's link)
    and no subscription left. A customer the shop's events added, on no list and never unsubscribed, is not."""
    ids = list(subscriber_ids)
    active = select(Subscription.subscriber_id).where(
        Subscription.subscriber_id == Subscriber.id,
        Subscription.status.in_([SubscriptionStatus.CONFIRMED, SubscriptionStatus.UNCONFIRMED]))
    left_list = select(Subscription.subscriber_id).where(Subscription.subscriber_id == Subscriber.id,
                                                         Subscription.status == SubscriptionStatus.UNSUBSCRIBED)
    left_message = select(Delivery.id).where(Delivery.subscriber_id == Subscriber.id,
                                             Delivery.unsubscribed_at.is_not(None))
    return set(db.session.scalars(select(Subscriber.id).where(
        Subscriber.id.in_(ids), ~active.exists(), or_(left_list.exists(), left_message.exists()))))


# The steps. Each takes the runs of one version at one step, and moves, sleeps or ends each.


def _wait(group: list[Moving], step: dict[str, Any], batch: Batch) -> None:
    # A plain duration is the same for every run: worked out once for the group.
    fixed = (timedelta(minutes=duration_minutes(step))
             if step.get("mode", "duration") == "duration" and step.get("at") is None else None)
    for run in group:
        try:
            ends = run.step_entered_at + fixed if fixed is not None else wait_ends(
                step, run.step_entered_at, entered=run.entered_at, last_mail=run.last_sent_at,
                attributes=batch.subscribers[run.subscriber_id].attribs or {}, timezone=batch.timezone)
        except NoDateError as missing:
            _end(run, RunState.FAILED, batch, f"no date in attribute {missing}")
            continue
        if ends > batch.now:
            _sleep(run, ends)
        else:
            _pass(run, step.get("next"), batch)


def _wait_event(group: list[Moving], step: dict[str, Any], batch: Batch) -> None:
    since = min(run.step_entered_at for run in group)
    conditions = [Event.subscriber_id.in_([run.subscriber_id for run in group]), Event.name == step["event"],
                  Event.occurred_at >= since]
    if step.get("property") is not None:
        conditions.append(property_condition(step["property"]))
    latest = dict(db.session.execute(select(Event.subscriber_id, func.max(Event.occurred_at)).where(*conditions)
                                     .group_by(Event.subscriber_id)).all())
    timeout = timedelta(minutes=duration_minutes(step))
    for run in group:
        happened = latest.get(run.subscriber_id)
        if happened is not None and happened >= run.step_entered_at:
            _pass(run, step.get("next"), batch, "event")
        elif batch.now >= run.step_entered_at + timeout:
            _pass(run, step.get("timeout"), batch, "timeout")
        else:
            _sleep(run, run.step_entered_at + timeout, waiting_for=step["event"])


def _condition(group: list[Moving], step: dict[str, Any], batch: Batch) -> None:
    ids = [run.subscriber_id for run in group]
    matching = set(db.session.scalars(select(Subscriber.id).where(Subscriber.id.in_(ids),
                                                                  compile_rule(step["rule"]))))
    for run in group:
        yes = run.subscriber_id in matching
        _pass(run, step.get("yes" if yes else "no"), batch, "yes" if yes else "no")


def _split(group: list[Moving], step: dict[str, Any], batch: Batch) -> None:
    branches = step["branches"]
    for run in group:
        # Deterministic per run and step: a run woken twice never changes its branch.
        roll = int.from_bytes(hashlib.blake2b(f"{run.id}:{run.step}".encode(), digest_size=4).digest()) % 100
        total = 0
        for number, branch in enumerate(branches):
            total += int(branch["percent"])
            if roll < total:
                _pass(run, branch.get("next"), batch, f"branch:{number + 1}")
                break


def _send(group: list[Moving], step: dict[str, Any], batch: Batch) -> None:
    definition = definition_of(group[0].version_id)
    emails = {run.subscriber_id: batch.subscribers[run.subscriber_id].email for run in group}
    suppressed = suppressed_addresses(emails.values())
    unsubscribed = opted_out(emails)
    for run in group:
        email = emails[run.subscriber_id]
        if email in suppressed:
            _end(run, RunState.EXITED, batch, "suppressed")
            continue
        if run.subscriber_id in unsubscribed:
            _end(run, RunState.EXITED, batch, "unsubscribed")
            continue
        quiet = (quiet_ends(definition.quiet_hours, email, batch.now, batch.timezone)
                 or window_opens(step.get("window"), batch.now, batch.timezone))
        if quiet is not None:
            _sleep(run, quiet)  # it stays at the send step and sends when the window opens
            continue
        # created_at given: the column's default would read the clock once a row (a Redis read each, on the
        # movable clock of tests and benchmarks).
        batch.deliveries.append({"campaign_id": int(step["campaign_id"]), "subscriber_id": run.subscriber_id,
                                 "run_id": run.id, "domain": receiving_domain(email),
                                 "template_data": {"event": run.trigger}, "created_at": batch.now})
        run.last_sent_at = batch.now
        batch.counts[(run.version_id, run.step, "sent")] += 1
        _pass(run, step.get("next"), batch, "sent")


def _update(group: list[Moving], step: dict[str, Any], batch: Batch) -> None:
    for run in group:
        batch.updates.append((run.subscriber_id, step))
        _pass(run, step.get("next"), batch)


def _notify(group: list[Moving], step: dict[str, Any], batch: Batch) -> None:
    for run in group:
        batch.notices.append((run.subscriber_id, run.step, step))
        _pass(run, step.get("next"), batch)


def _goal(group: list[Moving], step: dict[str, Any], batch: Batch) -> None:
    for run in group:
        _end(run, RunState.CONVERTED, batch, None)


def _exit(group: list[Moving], step: dict[str, Any], batch: Batch) -> None:
    for run in group:
        run.history.append((run.step, "exit", None))
        _end(run, RunState.COMPLETED, batch, None)


STEP_HANDLERS = {"wait": _wait, "wait_event": _wait_event, "condition": _condition, "split": _split, "send": _send,
                 "update": _update, "notify": _notify, "goal": _goal, "exit": _exit}


def _write(runs: Sequence[Moving], batch: Batch) -> None:
    """Write the batch: runs, history, deliveries, subscriber updates and counters, in one transaction."""
    from automations.updates import apply_updates

    now = batch.now
    if batch.updates:
        apply_updates(batch.updates)
    _write_runs(runs, now)
    history = [{"run_id": run.id, "step": step, "at": now, "outcome": outcome, "detail": detail}
               for run in runs for step, outcome, detail in run.history]
    if history and db.engine.dialect.name == "postgresql":  # one statement, the rows as one JSON parameter
        db.session.execute(_POSTGRES_HISTORY, {"rows": orjson.dumps(history).decode()})
    elif history:
        db.session.execute(insert(RunStep.__table__), history)
    inserted: dict[int, list[int]] = defaultdict(list)
    if batch.deliveries:
        for row_id, campaign_id in db.session.execute(
                insert(Delivery).returning(Delivery.id, Delivery.campaign_id, sort_by_parameter_order=True),
                batch.deliveries):
            inserted[campaign_id].append(row_id)
    _count(batch.counts)
    ended = [{"id": run.id, "automation_id": run.automation_id, "subscriber_id": run.subscriber_id,
              "state": run.state.value, "reason": run.reason} for run in runs if run.state != RunState.WAITING]
    if ended:
        runs_ended.send(runs=ended)
    db.session.commit()
    for campaign_id, ids in inserted.items():  # after the commit: a job never looks for rows not yet there
        for first, last in id_ranges(sorted(ids), batch_size()):  # in the mailer's batches: every worker sends
            enqueue_batch(campaign_id, first, last)
    if batch.notices:
        from automations.notices import send_notices

        send_notices(batch.notices)


def _write_runs(runs: Sequence[Moving], now: datetime) -> None:
    """Save each run's new state and step: on PostgreSQL one UPDATE … FROM the batch as a JSON parameter (a statement
    per run costs a round trip each), on SQLite the same UPDATE for each run (in process, no round trip)."""
    rows = [{"id": run.id, "state": run.state.value, "step": run.step, "step_entered_at": run.step_entered_at,
             "next_wake_at": run.next_wake_at, "waiting_for": run.waiting_for, "last_sent_at": run.last_sent_at,
             "ended_at": now if run.state != RunState.WAITING else None, "reason": run.reason} for run in runs]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(_POSTGRES_RUNS, {"rows": orjson.dumps(rows).decode()})
        return
    table = Run.__table__
    values: dict[str, Any] = {name: bindparam(name) for name in rows[0] if name != "id"}
    db.session.execute(update(table).where(table.c.id == bindparam("run")).values({**values, "claimed_until": None}),
                       [{**row, "run": row["id"]} for row in rows])


_POSTGRES_RUNS = text(
    "UPDATE automation_runs AS r SET state = v.state, step = v.step, step_entered_at = v.step_entered_at, "
    "next_wake_at = v.next_wake_at, waiting_for = v.waiting_for, last_sent_at = v.last_sent_at, "
    "ended_at = v.ended_at, reason = v.reason, claimed_until = NULL "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(id bigint, state text, step text, step_entered_at timestamptz, "
    "next_wake_at timestamptz, waiting_for text, last_sent_at timestamptz, ended_at timestamptz, reason text) "
    "WHERE r.id = v.id")
_POSTGRES_HISTORY = text(
    "INSERT INTO automation_run_steps (run_id, step, at, outcome, detail) SELECT run_id, step, at, outcome, detail "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(run_id bigint, step text, at timestamptz, outcome text, "
    "detail text)")


def _count(counts: Counter[tuple[int, str, str]]) -> None:
    """Add a batch's counts to its steps' totals (one statement per step and counter that moved)."""
    for (version_id, key, counter), n in counts.items():
        column = getattr(StepCount, counter)
        changed = db.session.execute(update(StepCount).where(StepCount.version_id == version_id,
                                                             StepCount.step == key).values({column: column + n}))
        if not changed.rowcount:  # type: ignore[attr-defined]
            zero = dict.fromkeys(COUNTERS, 0)
            db.session.execute(insert(StepCount).values(version_id=version_id, step=key, **{**zero, counter: n}))


def waiting_now(version_ids: Iterable[int]) -> dict[tuple[int, str], int]:
    """How many runs wait at each step of these versions now."""
    return {(version_id, step): n for version_id, step, n in db.session.execute(
        select(Run.version_id, Run.step, func.count()).where(Run.version_id.in_(list(version_ids)),
                                                              Run.state == RunState.WAITING)
        .group_by(Run.version_id, Run.step))}


def left_trigger_list(runs: Sequence[Moving], list_id: int) -> set[int]:
    """The subscribers among these runs' who unsubscribed from the trigger list."""
    return set(db.session.scalars(select(Subscription.subscriber_id).where(
        and_(Subscription.list_id == list_id, Subscription.status == SubscriptionStatus.UNSUBSCRIBED,
             Subscription.subscriber_id.in_([run.subscriber_id for run in runs])))))
