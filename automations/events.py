"""Customer events: reading what a shop sends (one event or a batch), storing it, and reading it back.

A batch is read event by event (each bad one is named by its index and the others go on), then stored in a few
set-based statements whatever its size: one lookup per way of naming subscribers, one insert of the new addresses
that may be created, one insert of the events. The insert skips an idempotency key that exists already (ON
CONFLICT DO NOTHING) and returns the keys it stored, so a key sent twice at once (two requests, two machines) is
stored once and the second request is told it was a duplicate: PostgreSQL makes the second insert wait for the
first one's transaction, SQLite has one writer at a time. The insert takes only events whose subscriber is still
there: one deleted since the lookup is refused as unknown, as if the lookup had not found them.

The API's requests store through a group commit (core/group_commit.py): the events of requests that arrive while
another request writes are written together, in one insert and one commit, and each request is answered for its
own events in its own language. An event sent without occurred_at occurred when it was stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, select, text

from automations.errors import (
    EventBatchTooLargeError,
    EventNameError,
    EventPropertiesError,
    EventTimeError,
    SubscriberChoiceError,
    UnknownSubscriberError,
)
from automations.models import Event, EventSource
from core.db import db, utcnow
from core.errors import KairanError, ValidationError
from core.group_commit import GroupCommit
from core.inputs import ID_MAX, flag, moment, whole_number
from core.signals import events_stored
from lists.addresses import address_key, normalise_email, valid_address
from lists.errors import InvalidAddressError
from lists.models import Subscriber
from lists.queries import db_time, is_sqlite, subscriber_ids_by
from lists.subscribers import subscribers_for_addresses
from tracking.revenue import PROBLEM_LABELS, Problem, read_revenue
from tracking.settings import CONVERSIONS, ConversionSettings

MAX_BATCH = 1000  # events per request
MAX_PROPERTIES_BYTES = 16 * 1024  # an event's properties, as JSON text
MAX_KEY_LENGTH = 200  # an idempotency key (the column's length)
MAX_AHEAD = timedelta(days=1)  # clocks differ; a time further ahead is a mistake (milliseconds taken as seconds)
NAME = re.compile(r"[a-z0-9_.:-]{1,64}")
WAYS = ("subscriber_id", "subscriber_uuid", "email")  # how an event names its subscriber: exactly one of them


@dataclass(frozen=True)
class EventInput:
    """One event read and checked, its subscriber not yet looked up."""

    index: int  # its place in the batch
    way: str  # one of WAYS
    who: int | str  # the id, the uuid, or the normalised address
    create: bool  # add the address as a subscriber when nobody has it
    name: str
    properties: str  # JSON text, as stored
    occurred_at: datetime | None  # UTC; None: when it is stored (its received_at)
    idempotency_key: str | None


@dataclass
class Outcome:
    """What became of each event of a request, by index: stored, a duplicate (stored before), or refused."""

    stored: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"index", "field", "message"}
    warnings: list[dict[str, Any]] = field(default_factory=list)  # stored, but its amount adds no revenue

    def refuse(self, index: int, error: KairanError) -> None:
        """Record why the event at index was refused."""
        self.errors.append({"index": index, "field": error.field, "message": error.message})

    def as_dict(self) -> dict[str, Any]:
        """Return the outcome as the API answers it, each list in the batch's order."""
        return {"stored": sorted(self.stored), "duplicates": sorted(self.duplicates),
                "errors": sorted(self.errors, key=lambda error: error["index"]),
                "warnings": sorted(self.warnings, key=lambda warning: warning["index"])}


def events_of_body(body: dict[str, Any]) -> list[Any]:
    """Return the events of a request body: its ``events`` list (a batch), or the body itself (one event)."""
    if "events" not in body:
        return [body]
    events = body["events"]
    if not isinstance(events, list):
        raise ValidationError(_("events must be a list of event objects."), field="events")
    if len(events) > MAX_BATCH:
        raise EventBatchTooLargeError(len(events), MAX_BATCH)
    return events


def read_event(index: int, raw: Any, now: datetime) -> EventInput:
    """Read and check one event as sent, or raise the error that refuses it."""
    if not isinstance(raw, dict):
        raise ValidationError(_("An event must be a JSON object."))
    given = [way for way in WAYS if raw.get(way) not in (None, "")]
    if len(given) != 1:
        raise SubscriberChoiceError(_("Name the subscriber by one of subscriber_id, subscriber_uuid or email."),
                                    field="subscriber")
    way = given[0]
    who: int | str
    if way == "subscriber_id":
        who = whole_number(raw[way], way, maximum=ID_MAX)
    elif way == "subscriber_uuid":
        if not isinstance(raw[way], str):
            raise SubscriberChoiceError(_("subscriber_uuid must be text."), field=way)
        who = raw[way].strip().lower()
    elif isinstance(raw[way], str):
        try:
            who = normalise_email(raw[way])
        except InvalidAddressError as error:
            error.field = way
            raise
    else:
        raise SubscriberChoiceError(_("email must be text."), field=way)
    create = flag(raw.get("create_subscriber"), "create_subscriber", default=False)
    if create and way != "email":
        raise SubscriberChoiceError(_("create_subscriber needs the subscriber's email."), field="create_subscriber")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise EventNameError()
    key = raw.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH):
        raise ValidationError(_("idempotency_key must be text of 1 to %(n)s characters.", n=MAX_KEY_LENGTH),
                              field="idempotency_key")
    return EventInput(index=index, way=way, who=who, create=create, name=name,
                      properties=_properties(raw.get("properties")), occurred_at=_occurred_at(raw, now),
                      idempotency_key=key)


def _properties(value: Any) -> str:
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        raise EventPropertiesError(_("properties must be a JSON object."), field="properties")
    try:
        serialised = orjson.dumps(value)  # as core.db.json_text stores it
    except orjson.JSONEncodeError:  # a number past 64 bits: no database keeps it as a number
        raise EventPropertiesError(_("properties hold a number too large to keep."), field="properties") from None
    if len(serialised) > MAX_PROPERTIES_BYTES:
        raise EventPropertiesError(_("properties are %(size)s bytes as JSON; at most %(limit)s are kept.",
                                     size=len(serialised), limit=MAX_PROPERTIES_BYTES), field="properties")
    return serialised.decode()


def _occurred_at(raw: dict[str, Any], now: datetime) -> datetime | None:
    if raw.get("occurred_at") in (None, ""):
        return None  # the moment it is stored
    occurred = moment(raw["occurred_at"], "occurred_at")
    if occurred > now + MAX_AHEAD:
        raise EventTimeError(_("occurred_at is more than a day ahead of this server's clock."), field="occurred_at")
    return occurred


class Fate(StrEnum):
    """What storing did with one event."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # its idempotency key was stored before, or earlier in the same write
    UNKNOWN = "unknown"  # no such subscriber (or deleted since the lookup)


def ingest(raw_events: Sequence[Any], source: EventSource = EventSource.API,
           store: Callable[[list[EventInput]], Sequence[Fate]] | None = None) -> Outcome:
    """Read, check and store events; return what became of each, by index. Commits.

    ``store`` writes the events that passed the checks (default: ``store_events`` at once; the API passes its
    group commit). The messages are made here, in the caller's language.
    """
    now, outcome = utcnow(), Outcome()
    events = []
    for index, raw in enumerate(raw_events):
        try:
            events.append(read_event(index, raw, now))
        except KairanError as error:
            outcome.refuse(index, error)
    fates = store(events) if store is not None else store_events(events, now, source)
    conversions = CONVERSIONS.current()  # read once for the batch
    for event, fate in zip(events, fates, strict=True):
        if fate == Fate.STORED:
            outcome.stored.append(event.index)
            _warn_about_revenue(outcome, event, conversions)
        elif fate == Fate.DUPLICATE:
            outcome.duplicates.append(event.index)
        else:
            outcome.refuse(event.index, UnknownSubscriberError())
    return outcome


def store_events(events: Sequence[EventInput], now: datetime, source: EventSource) -> list[Fate]:
    """Store checked events (the subscribers looked up, the events inserted) and commit; return each one's fate."""
    subscribers = _subscribers(events)
    fates = [Fate.UNKNOWN] * len(events)
    rows: list[tuple[int, EventInput]] = []
    places: list[int] = []
    keys_seen: set[str] = set()
    for place, event in enumerate(events):
        subscriber_id = subscribers.get((event.way, event.who))
        if subscriber_id is None:
            continue
        if event.idempotency_key is not None and event.idempotency_key in keys_seen:
            fates[place] = Fate.DUPLICATE
            continue
        if event.idempotency_key is not None:
            keys_seen.add(event.idempotency_key)
        rows.append((subscriber_id, event))
        places.append(place)
    inserted, gone = _insert(rows, now, source)
    stored_keys = {key for key in inserted.values() if key is not None}
    for place, (subscriber_id, event) in zip(places, rows, strict=True):
        if subscriber_id in gone:
            fates[place] = Fate.UNKNOWN
        elif event.idempotency_key is None or event.idempotency_key in stored_keys:
            fates[place] = Fate.STORED
        else:
            fates[place] = Fate.DUPLICATE
    if inserted:
        events_stored.send(ids=list(inserted))
    db.session.commit()
    from automations.triggers import on_stored  # above events: starts, wakes and ends runs

    on_stored(list(inserted))
    return fates


def grouped_api_store() -> GroupCommit[EventInput, Fate]:
    """The API's group commit: requests storing events at the same moment in this process share one insert."""
    return GroupCommit(lambda events: store_events(events, utcnow(), EventSource.API))


def _warn_about_revenue(outcome: Outcome, event: EventInput, conversions: ConversionSettings) -> None:
    """Tell the sender when a stored conversion event's amount will add no revenue (the event counts all the same)."""
    if event.name not in conversions.events or '"amount"' not in event.properties:
        return
    problem = read_revenue(orjson.loads(event.properties), conversions.currency).problem
    if problem is not None:
        field = "properties.currency" if problem == Problem.UNKNOWN_CURRENCY else "properties.amount"
        outcome.warnings.append({"index": event.index, "field": field,
                                 "message": _("%(reason)s: no revenue is counted for this event.",
                                              reason=PROBLEM_LABELS[problem])})


def _subscribers(events: Sequence[EventInput]) -> dict[tuple[str, int | str], int]:
    """Look up every subscriber the events name, one query per way of naming; add the addresses to be created.

    Ids are taken as sent (the insert skips an unknown one, and ``_insert`` then says which), unless an
    idempotency key repeats in the write: then an unknown id must not take a key that a good event carries."""
    found: dict[tuple[str, int | str], int] = {}
    keys = [event.idempotency_key for event in events if event.idempotency_key is not None]
    if len(set(keys)) < len(keys):
        ways: tuple[tuple[str, str], ...] = (("subscriber_id", "id"), ("subscriber_uuid", "uuid"))
    else:
        ways = (("subscriber_uuid", "uuid"),)
        found = {("subscriber_id", event.who): int(event.who) for event in events if event.way == "subscriber_id"}
    for way, column in ways:
        wanted = list({event.who for event in events if event.way == way})
        found |= {(way, value): i for value, i in subscriber_ids_by(column, wanted).items()}  # type: ignore[arg-type]
    addresses = [event for event in events if event.way == "email"]
    if addresses:
        # Those to be created first, so an event of the same address without create_subscriber later finds them.
        by_key = subscribers_for_addresses({str(e.who) for e in addresses if e.create}, create=True)
        by_key |= subscribers_for_addresses({str(e.who) for e in addresses if not e.create} - set(by_key))
        found |= {("email", e.who): by_key[address_key(str(e.who))] for e in addresses
                  if address_key(str(e.who)) in by_key}
    return found


_INSERT = ("INSERT INTO events (subscriber_id, name, properties, occurred_at, received_at, idempotency_key, source) "
           "SELECT {columns}, :received, {key}, :source FROM {rows} "
           # A subscriber deleted since the lookup is skipped, not a foreign-key error: looked up by id for each row
           # (a join let SQLite's planner scan every subscriber once per row). Ids follow the batch's order (the WHERE
           # also keeps SQLite from reading ON CONFLICT as a join's ON).
           "WHERE EXISTS (SELECT 1 FROM subscribers WHERE subscribers.id = {subscriber}) "
           "{order}ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key")
# The batch goes in as one parameter, a JSON array of rows that the database parses in C: SQLite's json_each, and
# PostgreSQL's json_to_recordset (arrays of each column cost psycopg 50 ms of Python per 1,000 events to send).
_SQLITE_INSERT = text(_INSERT.format(
    columns=", ".join(f"json_extract(r.value, '$[{n}]')" for n in range(4)), key="json_extract(r.value, '$[4]')",
    rows="json_each(:rows) AS r", subscriber="json_extract(r.value, '$[0]')",
    order=""))  # json_each gives the rows in their order: no sort
_POSTGRES_INSERT = text(_INSERT.format(
    columns="r.s, r.n, r.p, r.o", key="r.k", subscriber="r.s", order="ORDER BY r.i ",
    rows="ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS (s integer, n text, p jsonb, o timestamptz, k text)) "
         "WITH ORDINALITY AS r(s, n, p, o, k, i)"))


def _insert(rows: Sequence[tuple[int, EventInput]], now: datetime,
            source: EventSource) -> tuple[dict[int, str | None], set[int]]:
    """Insert the events in one statement (a repeated idempotency key is skipped, and so is a subscriber deleted
    since the lookup); return the stored events' ids with their keys, and the subscribers who are gone."""
    if not rows:
        return {}, set()
    if is_sqlite():
        statement, received = _SQLITE_INSERT, db_time(now)
        batch = orjson.dumps([(subscriber_id, e.name, e.properties, db_time(e.occurred_at or now), e.idempotency_key)
                              for subscriber_id, e in rows])
    else:
        statement, received = _POSTGRES_INSERT, now
        batch = orjson.dumps([{"s": subscriber_id, "n": e.name, "p": orjson.Fragment(e.properties),
                               "o": (e.occurred_at or now).isoformat(), "k": e.idempotency_key}
                              for subscriber_id, e in rows])
    params = {"rows": batch.decode(), "received": received, "source": source.value}
    returned = {row_id: key for row_id, key in db.session.execute(statement, params)}  # one per event inserted
    gone: set[int] = set()
    if len(returned) < len(rows):  # duplicates, or subscribers deleted since the lookup: which ones, if any
        ids = list({subscriber_id for subscriber_id, _event in rows})
        gone = set(ids) - set(subscriber_ids_by("id", ids).values())
    return returned, gone


def events_query(*, subscriber_id: int | None = None, subscriber_uuid: str | None = None, email: str | None = None,
                 name: str | None = None, start: datetime | None = None, end: datetime | None = None) -> Select[Any]:
    """Return events matching every filter given, newest first (by when they occurred)."""
    stmt = select(Event)
    if subscriber_id is not None:
        stmt = stmt.where(Event.subscriber_id == subscriber_id)
    if subscriber_uuid:
        stmt = stmt.where(Event.subscriber_id.in_(select(Subscriber.id).where(
            Subscriber.uuid == subscriber_uuid.strip().lower())))
    if email:
        address = valid_address(email)  # an address nobody can have selects no one
        stmt = stmt.where(Event.subscriber_id.in_(select(Subscriber.id).where(
            Subscriber.email_key == bindparam("email_key", address_key(address) if address else ""))))
    if name:
        stmt = stmt.where(Event.name == name)
    if start is not None:
        stmt = stmt.where(Event.occurred_at >= start)
    if end is not None:
        stmt = stmt.where(Event.occurred_at < end)
    return stmt.order_by(Event.occurred_at.desc(), Event.id.desc())


def events_as_dicts(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Serialise a page of events, each with its subscriber's id, uuid and address (read in one query)."""
    ids = {event.subscriber_id for event in events}
    people = {i: (uuid, email) for i, uuid, email in db.session.execute(
        select(Subscriber.id, Subscriber.uuid, Subscriber.email).where(Subscriber.id.in_(ids)))} if ids else {}
    return [{"id": event.id, "subscriber_id": event.subscriber_id,
             "subscriber_uuid": people.get(event.subscriber_id, ("", ""))[0],
             "email": people.get(event.subscriber_id, ("", ""))[1], "name": event.name,
             "properties": event.properties or {}, "occurred_at": event.occurred_at.isoformat(),
             "received_at": event.received_at.isoformat(), "idempotency_key": event.idempotency_key,
             "source": event.source.value} for event in events]
