"""What starts runs, and what ends or wakes them from outside: events as they are stored, scheduled triggers, and
enrolment by the API or an editor.

An event starts its runs at once: they are inserted due now and a worker is asked to wake them (no waiting for a
tick). The same event ends runs whose exit rules name it, and wakes runs waiting for it. The scheduled triggers
(subscribed to a list, a date attribute, entering a segment, a campaign opened, clicked or not opened) are looked
up by the periodic ``scan``. Entry rules: once per subscriber, again after N days, or every time (one run per
value of the trigger event's deduplicating property, such as order_id).
"""

from __future__ import annotations

import uuid
from calendar import isleap
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from automations.engine import definition_of, exit_waiting, queue_wake, wake
from automations.graph import Definition
from automations.models import Automation, AutomationStatus, Event, Run, RunState
from core import shared_config
from core.db import db, utcnow
from core.queues import queue, redis
from core.signals import runs_entered
from lists.models import ConsentRecord, Subscriber, SubscriptionStatus
from lists.segment_rules import compile_rule, json_text
from lists.segments import get_segment
from mailer.models import Delivery

SCAN_SECONDS = 60  # how often scheduled triggers are looked up
REACT_QUEUED = "kairan:automations:react-queued"
REACT_QUEUED_SECONDS = 60  # a lost job's flag goes by itself; the periodic wake catches up meanwhile
SETTLE = timedelta(seconds=5)  # an event's insert has committed by then
CATCH_UP_EVENTS = 10_000  # events one look acts on at most


def active() -> list[tuple[Automation, Definition]]:
    """The active automations with the definition new runs start on."""
    return [(a, definition_of(a.version_id)) for a in db.session.scalars(
        select(Automation).where(Automation.status == AutomationStatus.ACTIVE, Automation.version_id.is_not(None)))
        if a.version_id is not None]


def matches(condition: dict[str, Any] | None, properties: dict[str, Any]) -> bool:
    """Whether an event's properties meet a trigger's or an exit rule's property condition (as the event rule reads
    it: text eq, ne, contains; number eq, gt, gte, lt, lte)."""
    if not condition:
        return True
    have, op, wanted = properties.get(condition["key"]), condition["op"], condition["value"]
    if isinstance(wanted, str):
        text = None if have is None else str(have)
        return {"eq": text == wanted, "ne": text != wanted, "contains": text is not None and wanted in text}[op]
    if not isinstance(have, int | float) or isinstance(have, bool):
        return False
    return {"eq": have == wanted, "gt": have > wanted, "gte": have >= wanted, "lt": have < wanted,
            "lte": have <= wanted}[op]


def start_runs(automation: Automation, definition: Definition, entries: Iterable[tuple[int, dict[str, Any]]]) -> int:
    """Start runs for (subscriber id, trigger data) under the automation's entry rule; return how many started.

    Runs are inserted due now; the caller commits and asks for a wake-up (``queue_wake``).
    """
    entry, now = definition.entry, utcnow()
    entries = list(entries)
    if not entries:
        return 0
    if entry["mode"] == "again_after":  # not while an entry of theirs is more recent than N days
        since = now - timedelta(days=int(entry["days"]))
        recent = set(db.session.scalars(select(Run.subscriber_id).where(
            Run.automation_id == automation.id, Run.subscriber_id.in_({s for s, _t in entries}),
            Run.entered_at > since)))
        entries = [(s, t) for s, t in entries if s not in recent]
    rows = []
    for subscriber_id, trigger in entries:
        rows.append({"automation_id": automation.id, "version_id": automation.version_id,
                     "subscriber_id": subscriber_id, "entry_key": _entry_key(entry, trigger, now),
                     "state": RunState.WAITING, "step": "", "step_entered_at": now, "next_wake_at": now,
                     "trigger": trigger, "entered_at": now})
    if not rows:
        return 0
    # One statement: an entry the unique (automation, subscriber, entry key) holds already is skipped, the others go in.
    table = Run.__table__
    insert_runs = postgresql_insert(table) if db.engine.dialect.name == "postgresql" else sqlite_insert(table)
    statement = insert_runs.on_conflict_do_nothing(index_elements=["automation_id", "subscriber_id", "entry_key"])
    started = [run_id for (run_id,) in db.session.execute(statement.returning(table.c.id), rows)]
    if started:
        runs_entered.send(ids=started)
    return len(started)


def _entry_key(entry: dict[str, Any], trigger: dict[str, Any], now: datetime) -> str:
    mode = entry["mode"]
    if mode == "once":
        return ""
    if mode == "again_after":
        return f"at:{now.isoformat()}"
    prop = entry.get("dedupe_property")
    value = (trigger.get("properties") or {}).get(prop) if prop else None
    if value is not None:
        return f"{prop}:{value}"[:200]
    return f"event:{trigger.get('id') or uuid.uuid4()}"


def catch_up() -> int:
    """Job: act on the events stored since each active automation last looked: end runs their exit rules name, wake
    runs waiting for them, start runs they trigger; return how many runs started or woke.

    Each automation keeps an ``event_cursor``: the event id up to which it has acted. It moves only past events
    stored SETTLE ago or more, since PostgreSQL hands out ids before commits (an event committed late may have an
    id below one already seen); so the last few seconds' events are looked at again next time, which changes
    nothing (a start is keyed by its entry, an exit or a wake-up is the same twice). The cursor moves in the same
    transaction as what was done, from the value read: a second worker finds it moved and leaves those events.
    """
    acted, now = 0, utcnow()
    for automation, definition in active():
        cursor, names = automation.event_cursor, _listened(definition)
        settled = db.session.scalar(select(func.max(Event.id)).where(Event.id > cursor,
                                                                     Event.received_at < now - SETTLE))
        stored: list[tuple[int, int, str, dict[str, Any], datetime]] = [] if not names else [
            (row[0], row[1], row[2], row[3], row[4]) for row in db.session.execute(
                select(Event.id, Event.subscriber_id, Event.name, Event.properties, Event.occurred_at)
                .where(Event.id > cursor, Event.name.in_(names)).order_by(Event.id).limit(CATCH_UP_EVENTS))]
        if not stored and settled is None:
            continue
        moved = settled or cursor
        if len(stored) == CATCH_UP_EVENTS:  # more than one look takes: go on from the last one acted on
            moved = min(moved, stored[-1][0])
        claimed = db.session.execute(update(Automation).where(
            Automation.id == automation.id, Automation.event_cursor == cursor).values(event_cursor=moved))
        if not claimed.rowcount:  # type: ignore[attr-defined]
            db.session.rollback()  # another worker is acting on these events
            continue
        acted += _act(automation, definition, stored)
        db.session.commit()
    return acted


def _listened(definition: Definition) -> set[str]:
    """The event names an automation acts on: its trigger's, its exit rules', its waits for an event."""
    names = {rule["event"] for rule in definition.exit["events"]}
    if definition.trigger["kind"] == "event":
        names.add(definition.trigger["event"])
    return names | {step["event"] for step in definition.steps.values() if step.get("type") == "wait_event"}


def _act(automation: Automation, definition: Definition,
         stored: Sequence[tuple[int, int, str, dict[str, Any], datetime]]) -> int:
    if not stored:
        return 0
    now, acted = utcnow(), 0
    exits = definition.exit["events"]
    leaving = {s for _i, s, name, props, _o in stored for rule in exits
               if rule["event"] == name and matches(rule.get("property"), props)}
    if leaving:
        exit_waiting(and_(Run.automation_id == automation.id, Run.subscriber_id.in_(leaving)), "exit event")
    trigger = definition.trigger
    if trigger["kind"] == "event":
        acted += start_runs(automation, definition, [
            (s, {"id": i, "name": name, "properties": props, "occurred_at": occurred.isoformat()})
            for i, s, name, props, occurred in stored
            if name == trigger["event"] and matches(trigger.get("property"), props) and s not in leaving])
    acted += db.session.execute(update(Run).where(
        Run.automation_id == automation.id, Run.subscriber_id.in_({s for _i, s, _n, _p, _o in stored}),
        Run.state == RunState.WAITING, Run.waiting_for.in_({name for _i, _s, name, _p, _o in stored}))
        .values(next_wake_at=now)).rowcount  # type: ignore[attr-defined]
    return acted


def react() -> int:
    """Job (queued when events are stored, and periodic): act on new events, then move on the runs that are due
    (those they started or woke among them), at once."""
    if not _listening():
        return 0  # the flag stays until it expires: stored events queue no job meanwhile, the periodic wake looks
    redis().delete(REACT_QUEUED)  # events stored from now on queue another
    catch_up()
    return wake()


def enrol(automation: Automation, subscriber_ids: Iterable[int], data: dict[str, Any] | None = None) -> int:
    """Start runs for these subscribers now (the API's and the editor's enrolment); return how many started."""
    if automation.status != AutomationStatus.ACTIVE or automation.version_id is None:
        from flask_babel import gettext as _

        from automations.errors import AutomationStateError

        raise AutomationStateError(_("Activate the automation before enrolling subscribers."))
    known = set(db.session.scalars(select(Subscriber.id).where(Subscriber.id.in_(set(subscriber_ids)))))
    # Enrolled by hand: never a second run beside one still under way (an "every time" entry has no order to
    # tell two enrolments apart).
    known -= set(db.session.scalars(select(Run.subscriber_id).where(
        Run.automation_id == automation.id, Run.state == RunState.WAITING, Run.subscriber_id.in_(known))))
    started = start_runs(automation, definition_of(automation.version_id),
                         [(s, {"name": "enrolled", "properties": data or {}}) for s in sorted(known)])
    db.session.commit()
    if started:
        queue_wake()
    return started


def enrol_segment(automation: Automation, segment_id: int) -> int:
    """Enrol every current member of a segment at once."""
    members = db.session.scalars(select(Subscriber.id).where(compile_rule(get_segment(segment_id).rules)))
    return enrol(automation, list(members))


def scan() -> int:
    """Periodic job: start the runs of the scheduled triggers since the last look; return how many started."""
    now, started = utcnow(), 0
    for automation, definition in active():
        trigger = definition.trigger
        since = automation.scanned_at or now
        entries = SCANS.get(trigger["kind"], lambda *_a: [])(automation, trigger, since, now)
        started += start_runs(automation, definition, entries)
        automation.scanned_at = now
        db.session.commit()
    if started:
        queue_wake()
    return started


def _subscribed(automation: Automation, trigger: dict[str, Any], since: datetime, now: datetime
                ) -> list[tuple[int, dict[str, Any]]]:
    """Confirmed subscriptions to the list since the last look (consent records, whose ids only grow)."""
    cursor = automation.consent_cursor or 0
    if not cursor:  # first look: from now on, not everyone who ever subscribed
        automation.consent_cursor = db.session.scalar(select(func.coalesce(func.max(ConsentRecord.id), 0))) or 0
        return []
    rows = db.session.execute(select(ConsentRecord.id, ConsentRecord.subscriber_id).where(
        ConsentRecord.id > cursor, ConsentRecord.list_id == int(trigger["list_id"]),
        ConsentRecord.status == SubscriptionStatus.CONFIRMED).order_by(ConsentRecord.id)).all()
    newest = db.session.scalar(select(func.max(ConsentRecord.id)))
    automation.consent_cursor = int(newest or cursor)
    return [(s, {"name": "subscribed", "properties": {"list_id": int(trigger["list_id"])}})
            for s in dict.fromkeys(s for _i, s in rows)]


def _date(automation: Automation, trigger: dict[str, Any], since: datetime, now: datetime
          ) -> list[tuple[int, dict[str, Any]]]:
    """Subscribers whose date attribute (moved by offset_days; yearly: its month and day) is the day whose time of
    day ``at`` fell between the last look and now. Most looks pass no such moment and read nothing; one that does
    reads only the matching attribute values (text starting with the date, or ending with the month and day)."""
    zone = ZoneInfo(current_app.config["KAIRAN"].timezone)
    name, offset = str(trigger["attribute"]), int(trigger.get("offset_days", 0))
    at = datetime.strptime(trigger.get("at", "09:00"), "%H:%M").time()
    value = json_text(Subscriber.attribs, name)
    found: dict[int, dict[str, Any]] = {}
    day = since.astimezone(zone).date()
    while (moment := datetime.combine(day, at, tzinfo=zone)) <= now:
        if moment > since:
            wanted = day - timedelta(days=offset)  # the attribute's date whose moved day is today
            pattern = f"%-{wanted:%m-%d}%" if trigger.get("yearly") else f"{wanted:%Y-%m-%d}%"
            for subscriber_id, text in db.session.execute(select(Subscriber.id, value).where(value.like(pattern))):
                if _same_day(str(text), wanted, bool(trigger.get("yearly"))):
                    found[subscriber_id] = {"name": "date", "properties": {name: str(text)}}
        day += timedelta(days=1)
    return list(found.items())


def _same_day(text: str, wanted: date, yearly: bool) -> bool:
    """Whether an attribute's text is that date (yearly: that month and day; 29 February counts on the 28th in a
    common year)."""
    try:
        have = date.fromisoformat(text[:10])
    except ValueError:
        return False
    if not yearly:
        return have == wanted
    return (have.month, have.day) == (wanted.month, wanted.day) or (
        (have.month, have.day) == (2, 29) and (wanted.month, wanted.day) == (2, 28) and not isleap(wanted.year))


def _segment(automation: Automation, trigger: dict[str, Any], since: datetime, now: datetime
             ) -> list[tuple[int, dict[str, Any]]]:
    """Members of the segment who have no run of this automation yet (entering it; once is the natural entry rule
    here)."""
    rules = get_segment(int(trigger["segment_id"])).rules
    members = db.session.scalars(select(Subscriber.id).where(compile_rule(rules), ~select(Run.id).where(
        Run.automation_id == automation.id, Run.subscriber_id == Subscriber.id).exists()))
    return [(s, {"name": "segment", "properties": {"segment_id": int(trigger["segment_id"])}}) for s in members]


def _campaign(automation: Automation, trigger: dict[str, Any], since: datetime, now: datetime
              ) -> list[tuple[int, dict[str, Any]]]:
    """Readers of the campaign who opened or clicked it (as people) since the last look, or who did not open it
    within N days of its sending."""
    campaign_id, action = int(trigger["campaign_id"]), trigger["action"]
    props = {"campaign_id": campaign_id, "action": action}
    if action in ("opened", "clicked"):
        column = Delivery.first_open_at if action == "opened" else Delivery.first_click_at
        ids = db.session.scalars(select(Delivery.subscriber_id).where(
            Delivery.campaign_id == campaign_id, column > since, column <= now, Delivery.subscriber_id.is_not(None)))
    else:
        days = timedelta(days=int(trigger.get("within_days", 3)))
        ids = db.session.scalars(select(Delivery.subscriber_id).where(and_(
            Delivery.campaign_id == campaign_id, Delivery.first_open_at.is_(None), Delivery.sent_at > since - days,
            Delivery.sent_at <= now - days, Delivery.subscriber_id.is_not(None))))
    return [(s, {"name": "campaign", "properties": props}) for s in ids if s is not None]


SCANS = {"subscribed": _subscribed, "date": _date, "segment": _segment, "campaign": _campaign}


def on_stored(event_ids: Sequence[int]) -> None:
    """Events were just stored (automations/events.py calls it after its commit): a worker acts on them now (one job
    for any number of requests: queued unless one waits already, or none listened a moment ago). Whether any
    automation is active is held by each process until one changes (core/shared_config.py), so a shop's events
    cost nothing more while none is. Should Redis lose the job, the periodic wake catches up from each
    automation's cursor."""
    if not event_ids or not shared_config.view("automations_listening", _listening):
        return
    try:
        if redis().set(REACT_QUEUED, 1, nx=True, ex=REACT_QUEUED_SECONDS):
            queue().enqueue(react)
    except RedisError:  # the events are stored and the answer says so: the periodic wake finds them
        current_app.logger.warning("Redis is unreachable: stored events wait for the periodic wake", exc_info=True)


def listen_now() -> None:
    """An automation became active: the next stored event queues a job again, though one found none listening."""
    redis().delete(REACT_QUEUED)


def _listening() -> bool:
    return db.session.scalar(select(select(Automation.id).where(
        Automation.status == AutomationStatus.ACTIVE).exists())) or False


# An automation added, deleted, activated, paused or archived changes whether every process listens.
shared_config.count_changes_of(Automation, Automation.status)
