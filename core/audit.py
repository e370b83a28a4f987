"""The audit log: who did what to which object, when and from where, append-only and hash-chained.

Every package records into it: with ``record(action, target, before, after)`` for what is not a row's change
(a login, an export downloaded), and by ``track``-ing its models, whose rows created, changed (the tracked
fields only) and deleted are recorded by one flush hook, in the transaction that writes them.

Each entry carries the hash of the one before it. Writers take the chain's head row (``audit_head``) with an
UPDATE before they read the last hash, so on PostgreSQL the row lock and on SQLite the write lock make every
other writer, on any process or host, wait for this transaction's commit: the chain cannot fork. An entry's id
is its place in the chain, handed out under that lock. Nothing updates or deletes an entry except retention
(``prune``), which moves the head's ``first_id`` on so that ``verify`` starts from the first entry kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from flask import Flask, g, has_request_context, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from rq import get_current_job
from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Dialect,
    Integer,
    String,
    bindparam,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import get_history

from core.db import db, utcnow
from core.settings import editable_settings

MASK = "********"
# Fields whose values an entry never holds in clear: a password, a key, a token, a secret.
SECRET_WORDS = ("password", "secret", "token", "private_key", "api_key")
# A CSV download's encoding, as the export links name it.
ENCODING_NAMES = {"utf-8": _l("UTF-8"), "cp932": _l("Shift_JIS (CP932, older Excel)")}


class AuditEntry(db.Model):  # type: ignore[name-defined]
    """One thing done: by whom (a person, an API user, the system or a job), when, from which address, to what."""

    __tablename__ = "audit_entries"

    # Its place in the chain, given under the head's lock (not by a sequence: ids must follow commit order).
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    actor_kind: Mapped[str] = mapped_column(String(10))  # user, api, system or job
    actor_id: Mapped[int | None]  # no foreign key: the entry outlives the user
    address: Mapped[str | None] = mapped_column(String(45))
    action: Mapped[str] = mapped_column(String(60), index=True)  # "<object>.<verb>": list.created, login.failed
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))  # the object's name when it was done
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(db.Model):  # type: ignore[name-defined]
    """The chain's one head row (id 1): the lock writers take, the last entry, the first entry kept."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    first_id: Mapped[int] = mapped_column(BigInteger)


class Target(NamedTuple):
    """The object an action was done to: its kind, its id and its name at the time."""

    type: str
    id: object = None
    label: str | None = None


class Actor(NamedTuple):
    """Who did it."""

    name: str
    kind: str
    id: int | None = None
    address: str | None = None


def current_actor() -> Actor:
    """Who is acting now: the signed-in person or the API token's user, else a job, else the system (the CLI)."""
    if has_request_context():
        # Only a user already loaded: loading one here could query the database in the middle of a flush.
        user = g.get("_login_user")
        address = request.remote_addr
        if user is not None and getattr(user, "is_authenticated", False):
            kind = "api" if g.get("api_token_user") is not None else "user"
            return Actor(user.username, kind, user.id, address)
        return Actor("anonymous", "user", None, address)
    job = get_current_job()
    if job is not None:
        return Actor(f"job:{job.func_name}"[:100], "job")
    return Actor("system", "system")


def is_secret(name: str) -> bool:
    """Tell whether a field's value is a secret that an entry masks."""
    return any(word in name.lower() for word in SECRET_WORDS)


def masked(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return values as an entry keeps them: secrets masked (set or not is still told), all as JSON has them."""
    if values is None:
        return None
    shown = {name: (MASK if value else value) if is_secret(name) else value for name, value in values.items()}
    plain: dict[str, Any] = orjson.loads(orjson.dumps(shown, default=str, option=orjson.OPT_NON_STR_KEYS))
    return plain


def _timestamp(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(row: Mapping[Any, Any]) -> str:
    """The hash of an entry: SHA-256 of its previous hash and its content, as canonical JSON."""
    content = {
        "id": row["id"], "at": _timestamp(row["at"]), "actor": row["actor"], "actor_kind": row["actor_kind"],
        "actor_id": row["actor_id"], "address": row["address"], "action": row["action"],
        "target_type": row["target_type"], "target_id": row["target_id"], "target": row["target"],
        "before": row["before"], "after": row["after"], "prev_hash": row["prev_hash"],
    }
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


_HEAD = AuditHead.__table__
_ENTRY = AuditEntry.__table__
_TAKE = (update(_HEAD).where(_HEAD.c.id == 1).values(last_id=_HEAD.c.last_id + bindparam("count"))
         .returning(_HEAD.c.last_id, _HEAD.c.last_hash))
_INSERT = insert(_ENTRY).values({column.name: bindparam(f"entry_{column.name}") for column in _ENTRY.columns})
_MOVE = update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=bindparam("new_hash"))
_INSERT_AND_MOVE = _MOVE.add_cte(_INSERT.cte("entry"))  # PostgreSQL: one entry and the head's move, one round trip


class _Compiled(NamedTuple):
    """A statement as the database's driver takes it, and the order of its parameters where they are positional."""

    sql: str
    order: tuple[str, ...] | None
    constants: dict[str, Any]  # the statement's own values (its WHERE id = 1)

    def params(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters: a tuple in order for positional placeholders (SQLite), else a dict."""
        given = {**self.constants, **values}
        return tuple(given[name] for name in self.order) if self.order else given


@dataclass(frozen=True)
class _Statements:
    """The append's statements compiled once per dialect and run through the driver: an API write pays for running
    them, not for SQLAlchemy building and compiling them each time (bench/api_auth.py)."""

    take: _Compiled  # first: the head's UPDATE takes the lock (PostgreSQL's row lock, SQLite's write lock)
    insert: _Compiled
    move: _Compiled
    insert_and_move: _Compiled
    processors: dict[str, Callable[[Any], Any]]  # each column's value as its type stores it (JSON, UTC times)


_STATEMENTS: dict[str, _Statements] = {}


def _statements(dialect: Dialect) -> _Statements:
    found = _STATEMENTS.get(dialect.name)
    if found is None:
        def compiled(statement: Any) -> _Compiled:
            done = statement.compile(dialect=dialect)
            constants = {name: value for name, value in done.params.items() if value is not None}
            return _Compiled(str(done), tuple(done.positiontup) if done.positiontup else None, constants)

        found = _STATEMENTS[dialect.name] = _Statements(
            compiled(_TAKE), compiled(_INSERT), compiled(_MOVE), compiled(_INSERT_AND_MOVE),
            {f"entry_{c.name}": p for c in _ENTRY.columns if (p := c.type.bind_processor(dialect)) is not None})
    return found


def _append(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Chain and insert entries, holding the head's lock until the caller's transaction ends."""
    statements = _statements(connection.dialect)
    # The driver's own cursor, on the transaction's connection: SQLAlchemy's layers cost more than SQLite's work.
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statements.take.sql, statements.take.params({"count": len(rows)}))
        last_id, last_hash = cursor.fetchone()
        entry_id = last_id - len(rows)
        stored = []
        for row in rows:
            entry_id += 1
            row.update(id=entry_id, prev_hash=last_hash)
            row["hash"] = last_hash = entry_hash(row)
            values = {f"entry_{name}": value for name, value in row.items()}
            stored.append({name: statements.processors[name](value) if name in statements.processors else value
                           for name, value in values.items()})
        if len(rows) == 1 and connection.dialect.name == "postgresql":  # SQLite runs in the process: no round trip
            both = statements.insert_and_move
            cursor.execute(both.sql, both.params({**stored[0], "new_hash": last_hash}))
        else:
            for values in stored:
                cursor.execute(statements.insert.sql, statements.insert.params(values))
            cursor.execute(statements.move.sql, statements.move.params({"new_hash": last_hash}))
    finally:
        cursor.close()


def _row(action: str, target: Target | None, before: Mapping[str, Any] | None,
         after: Mapping[str, Any] | None, actor: Actor) -> dict[str, Any]:
    return {
        "at": utcnow(), "actor": actor.name, "actor_kind": actor.kind, "actor_id": actor.id,
        "address": actor.address, "action": action[:60],
        "target_type": target.type if target else None,
        "target_id": None if target is None or target.id is None else str(target.id)[:64],
        "target": None if target is None or target.label is None else str(target.label)[:255],
        "before": masked(before), "after": masked(after),
    }


def record(action: str, target: Target | None = None, before: Mapping[str, Any] | None = None,
           after: Mapping[str, Any] | None = None, actor: Actor | None = None) -> None:
    """Record an action in the current transaction (the caller commits): who (unless ``actor`` says), when and
    where come from the request, the job or the system. ``before``/``after`` hold the values changed (secrets
    are masked)."""
    _append(db.session.connection(), [_row(action, target, before, after, actor or current_actor())])


def user_target(user: Any) -> Target:
    """A person or API user as an entry's object."""
    return Target("user", user.id, user.username)


def as_user(user: Any) -> Actor:
    """The actor a person is once their password (and code) was right, before their session starts."""
    return Actor(user.username, "user", user.id, request.remote_addr if has_request_context() else None)


# What packages track of their models, by class: rows created, changed (tracked fields) and deleted.
@dataclass(frozen=True)
class Tracked:
    """A model whose rows' changes are recorded: as ``kind`` (list, campaign, …), named by ``label``."""

    kind: str
    label: str
    fields: tuple[str, ...]
    opaque: frozenset[str] = field(default_factory=frozenset)  # told changed, never kept (bodies: too long)
    titles: Mapping[str, Any] = field(default_factory=dict)  # each field's name in the UI (lazy strings)

    def values(self, obj: Any, names: Iterable[str]) -> dict[str, Any]:
        """The fields' current values, opaque ones as whether they are set."""
        return {name: self._shown(name, getattr(obj, name)) for name in names}

    def _shown(self, name: str, value: Any) -> Any:
        return (value is not None and value != "") if name in self.opaque else value


_TRACKED: dict[type, Tracked] = {}
# Every kind of object entries name (their target_type), with its name in the UI: the log page's object filter
# offers these. ``track`` names its kind; a package naming a kind in ``record`` alone calls ``name_kind``.
_KINDS: dict[str, Any] = {}
# Each kind's fields with their names in the UI: from ``track``, or read when shown (``name_fields``).
_FIELDS: dict[str, dict[str, Any]] = {}
_FIELD_SOURCES: dict[str, Callable[[], Mapping[str, Any]]] = {}
# The jobs that act, by RQ's name for their function, as the log page calls them (else by their function's name).
_JOBS: dict[str, Any] = {}


# Each action's name in the UI by its code (campaign.running): the package names them beside its tracking.
_ACTIONS: dict[str, Any] = {}
# How a field's values read in the UI, by kind and field: the labels the package's own pages use.
_READERS: dict[str, dict[str, Callable[[Any], str]]] = {}
# Fields that hold other rows' ids, by kind and field: the model and the attribute that names its rows.
_REFS: dict[str, dict[str, Reference]] = {}
# An action a package did not name reads as its kind's title and its verb: "List created", "Campaign: Paused".
_VERBS = {"created": _l("%(kind)s created"), "changed": _l("%(kind)s changed"), "deleted": _l("%(kind)s deleted")}


class Reference(NamedTuple):
    """Where a field's ids point: the model, and the attribute shown instead of the id."""

    model: type
    label: str


def name_kind(kind: str, title: Any) -> None:
    """Name a kind of object the package's entries record (``title``: a lazy string, shown in the UI language)."""
    _KINDS[kind] = title


def kinds() -> dict[str, str]:
    """Every kind of object recorded, with its name in the current language, sorted by that name."""
    return dict(sorted(((kind, str(title)) for kind, title in _KINDS.items()), key=lambda pair: pair[1]))


def name_job(function: Callable[..., Any], title: Any) -> None:
    """Name a job whose work the log records (``title``: a lazy string such as "sending job")."""
    _JOBS[f"{function.__module__}.{function.__qualname__}"] = title


def job_title(actor: str) -> str | None:
    """A job actor's (``job:<function>``) name in the current language, else None for another actor."""
    if not actor.startswith("job:"):
        return None
    function = actor.removeprefix("job:")
    title = _JOBS.get(function)
    return str(title) if title is not None else function.rpartition(".")[2]


def name_fields(kind: str, titles: Mapping[str, Any] | Callable[[], Mapping[str, Any]], *,
                values: Mapping[str, Mapping[str, Any] | Callable[[Any], Any]] | None = None,
                refs: Mapping[str, Reference] | None = None) -> None:
    """Name the fields a package's ``record`` calls hold for ``kind``: ``titles`` given, or read when shown
    (settings: their labels); ``values``: how a field's values read (labels by value, or a function); ``refs``:
    fields holding ids of rows named at display time."""
    if callable(titles):
        _FIELD_SOURCES[kind] = titles
    else:
        _FIELDS.setdefault(kind, {}).update(titles)
    for name, reader in (values or {}).items():
        _READERS.setdefault(kind, {})[name] = _reader(reader)
    _REFS.setdefault(kind, {}).update(refs or {})


def _reader(labels: Mapping[str, Any] | Callable[[Any], Any]) -> Callable[[Any], str]:
    if callable(labels):
        def read(value: Any) -> str:
            try:
                return str(labels(value))
            except (KeyError, ValueError):  # a value the labels no longer know (an old entry): as it was kept
                return str(value)
        return read
    return lambda value: str(labels.get(str(getattr(value, "value", value)), value))


def value_reader(kind: str | None, name: str) -> Callable[[Any], str] | None:
    """How a field's values read in the UI, where the package said."""
    return _READERS.get(kind or "", {}).get(name)


def reference(kind: str | None, name: str) -> Reference | None:
    """Where a field's ids point, where the package said."""
    return _REFS.get(kind or "", {}).get(name)


def name_actions(kind: str, titles: Mapping[str, Any]) -> None:
    """Name a kind's actions in the UI, by verb: ``{"running": _l("Campaign started sending")}``."""
    for verb, title in titles.items():
        _ACTIONS[f"{kind}.{verb}"] = title


def action_title(action: str) -> str:
    """An action in words in the current language: its name, else its kind's title with its verb (or status)."""
    title = _ACTIONS.get(action)
    if title is not None:
        return str(title)
    kind, _dot, verb = action.partition(".")
    kind_title = str(_KINDS.get(kind, kind))
    if verb in _VERBS:
        return str(_VERBS[verb]) % {"kind": kind_title}
    status = value_reader(kind, "status")
    verb_text = status(verb) if status is not None else verb
    if verb_text == verb:  # no label for it: the code's words
        verb_text = verb.replace("_", " ")
    return _("%(kind)s: %(verb)s", kind=kind_title, verb=verb_text)


def actions() -> dict[str, str]:
    """Every action named, and created/changed/deleted of every tracked kind, with their words, sorted by them."""
    codes = {*_ACTIONS, *(f"{spec.kind}.{verb}" for spec in _TRACKED.values() for verb in _VERBS)}
    return dict(sorted(((code, action_title(code)) for code in codes), key=lambda pair: pair[1]))


def field_title(kind: str | None, name: str) -> str:
    """A field's name in the current language (its own name where none was given)."""
    titles: Mapping[str, Any] = _FIELDS.get(kind or "", {})
    if name not in titles and kind in _FIELD_SOURCES:
        titles = _FIELD_SOURCES[kind]()
    title = titles.get(name)
    return str(title) if title is not None else name


def in_field_order(kind: str | None, names: Iterable[str]) -> list[str]:
    """Fields in the order their package titled them (a form's order: a window's start before its end), others
    after them as they came."""
    order = {name: place for place, name in enumerate(_FIELDS.get(kind or "", {}))}
    return sorted(names, key=lambda name: order.get(name, len(order)))


def opaque_fields(kind: str | None) -> frozenset[str]:
    """The fields of a kind that entries only tell as set or not (bodies), whatever the value was."""
    return frozenset().union(*(spec.opaque for spec in _TRACKED.values() if spec.kind == kind))


def track(model: type, kind: str, label: str, fields: Mapping[str, Any], opaque: Iterable[str] = (), *,
          title: Any, actions: Mapping[str, Any] | None = None,
          values: Mapping[str, Mapping[str, Any] | Callable[[Any], Any]] | None = None,
          refs: Mapping[str, Reference] | None = None) -> None:
    """Record the model's rows created, changed (in these fields, each with its name in the UI) and deleted, as
    objects of ``kind`` (named ``title`` in the UI). A change of a field named ``status`` is recorded as
    ``<kind>.<new status>`` (campaign.scheduled, campaign.paused), others as ``<kind>.changed``. ``actions``
    names those verbs in the UI; ``values`` and ``refs`` tell how fields read (see ``name_fields``)."""
    spec = Tracked(kind, label, tuple(fields), frozenset(opaque), dict(fields))
    name_kind(kind, title)
    name_fields(kind, fields, values=values, refs=refs)
    name_actions(kind, actions or {})
    if model not in _TRACKED:
        for name in spec.fields:
            # A listener with active history makes a set load the value it replaces (after a commit expired it),
            # so the entry holds the value before, and a value set to what it was is no change.
            event.listen(getattr(model, name), "set", _keep_old_value, active_history=True)
    _TRACKED[model] = spec


def _keep_old_value(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
    return value


def _changes(spec: Tracked, obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in spec.fields:
        history = get_history(obj, name)
        if history.has_changes() and history.deleted != history.added:
            before[name] = spec._shown(name, history.deleted[0] if history.deleted else None)
            after[name] = spec._shown(name, history.added[0] if history.added else None)
    return before, after


def flushed(session: Session, _context: Any) -> None:
    """The flush hook: record the tracked rows this flush wrote, on its connection (so in its transaction)."""
    if not _TRACKED:
        return
    rows: list[dict[str, Any]] = []
    actor: Actor | None = None
    for obj in (*session.new, *session.dirty, *session.deleted):
        spec = _TRACKED.get(type(obj))
        if spec is None:
            continue
        target = Target(spec.kind, getattr(obj, "id", None), getattr(obj, spec.label, None))
        if obj in session.new:
            action, before, after = "created", None, spec.values(obj, spec.fields)
        elif obj in session.deleted:
            action, before, after = "deleted", spec.values(obj, spec.fields), None
        else:
            before, after = _changes(spec, obj)
            if not after:
                continue
            action = str(after["status"]) if "status" in after else "changed"
        actor = actor or current_actor()
        rows.append(_row(f"{spec.kind}.{action}", target, before, after, actor))
    if rows:
        _append(session.connection(), rows)


# Reading, verifying and pruning.
@dataclass(frozen=True)
class Filters:
    """What the log page and /api/audit narrow the entries to."""

    actor: str | None = None
    action: str | None = None  # an action, or an object's kind ("campaign": every campaign.*)
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive


def query(filters: Filters) -> Any:
    """The entries that match, newest first."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
    if filters.actor:
        stmt = stmt.where(AuditEntry.actor == filters.actor)
    if filters.action:
        stmt = stmt.where(AuditEntry.action == filters.action if "." in filters.action
                          else AuditEntry.action.startswith(filters.action + ".", autoescape=True))
    if filters.target_type:
        stmt = stmt.where(AuditEntry.target_type == filters.target_type)
    if filters.target_id:
        stmt = stmt.where(AuditEntry.target_id == filters.target_id)
    if filters.since:
        stmt = stmt.where(AuditEntry.at >= filters.since)
    if filters.until:
        stmt = stmt.where(AuditEntry.at < filters.until)
    return stmt


def serialize(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API gives it."""
    return {
        "id": entry.id, "at": _timestamp(entry.at), "actor": entry.actor, "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id, "address": entry.address, "action": entry.action,
        "target_type": entry.target_type, "target_id": entry.target_id, "target": entry.target,
        "before": entry.before, "after": entry.after, "hash": entry.hash,
    }


CSV_COLUMNS = ("id", "at", "actor", "actor_kind", "address", "action", "target_type", "target_id", "target",
               "before", "after", "hash")


def csv_rows(filters: Filters) -> Iterator[list[Any]]:
    """The matching entries as CSV rows (JSON for the values before and after), newest first."""
    for entry in db.session.scalars(query(filters).execution_options(yield_per=1000)):
        shown = serialize(entry)
        yield [orjson.dumps(shown[name]).decode() if name in ("before", "after") and shown[name] is not None
               else shown[name] for name in CSV_COLUMNS]


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: whole, or the first entry where the chain breaks and why."""

    checked: int
    broken_id: int | None = None
    reason: str | None = None

    @property
    def whole(self) -> bool:
        """Tell whether every kept entry is as it was written."""
        return self.broken_id is None


def verify() -> Verdict:
    """Recompute the chain from the first entry kept to the head, naming the first entry that does not fit."""
    head = db.session.get_one(AuditHead, 1)  # made by the migration
    expected_id, expected_prev = head.first_id, None  # the first kept entry's previous one was pruned
    checked = 0
    table = AuditEntry.__table__
    stmt = select(table).where(table.c.id >= head.first_id).order_by(table.c.id)
    for row in db.session.connection().execution_options(yield_per=1000).execute(stmt).mappings():
        if row["id"] != expected_id:
            return Verdict(checked, expected_id, f"entry {expected_id} is missing")
        if expected_prev is not None and row["prev_hash"] != expected_prev:
            return Verdict(checked, row["id"], f"entry {row['id']} does not follow entry {row['id'] - 1}")
        if entry_hash(row) != row["hash"]:
            return Verdict(checked, row["id"], f"entry {row['id']} was changed after it was written")
        checked += 1
        expected_id, expected_prev = row["id"] + 1, row["hash"]
    if expected_id - 1 != head.last_id or (expected_prev is not None and expected_prev != head.last_hash):
        return Verdict(checked, expected_id if expected_id <= head.last_id else head.last_id,
                       f"the chain ends at entry {expected_id - 1}, its head says {head.last_id}")
    return Verdict(checked)


def prune(keep_days: int) -> int:
    """Delete the entries older than ``keep_days`` (the one path that deletes any); return how many went."""
    cutoff = utcnow() - timedelta(days=keep_days)
    connection = db.session.connection()
    head = AuditHead.__table__
    # The head's lock first, as a writer takes it: entries below the new first_id are then gone for everyone.
    connection.execute(update(head).where(head.c.id == 1).values(first_id=head.c.first_id))
    # The entries to go run from the first kept one up to the last written before the cutoff, in id order.
    last_old = connection.scalar(select(AuditEntry.id).where(AuditEntry.at < cutoff)
                                 .order_by(AuditEntry.id.desc()).limit(1))
    if last_old is None:
        db.session.commit()
        return 0
    gone = connection.execute(delete(AuditEntry.__table__).where(AuditEntry.id <= last_old)).rowcount
    connection.execute(update(head).where(head.c.id == 1).values(first_id=last_old + 1))
    db.session.commit()
    return int(gone)


def sweep() -> None:
    """The periodic job: apply the retention setting (KAIRAN_AUDIT_RETENTION_DAYS)."""
    from flask import current_app

    prune(current_app.config["KAIRAN"].audit_retention_days)


SWEEP_SECONDS = 3600


def init_app(app: Flask) -> None:
    """Listen to every flush for tracked rows, and prune old entries hourly."""
    from core import signals
    from core.api import register_schema
    from core.audit_views import AUDIT_ENTRY_SCHEMA
    from core.queues import DEFAULT_QUEUE, register_periodic

    if not event.contains(Session, "after_flush", flushed):
        event.listen(Session, "after_flush", flushed)
    signals.settings_changed.connect(_settings_changed)
    register_periodic(app, DEFAULT_QUEUE, sweep, SWEEP_SECONDS)
    register_schema(app, "AuditEntry", AUDIT_ENTRY_SCHEMA)
    from core.models import User
    from core.web import role_label

    track(User, "user", "username", {"username": _l("Username"), "type": _l("Type"), "role": _l("Role"),
                                     "enabled": _l("Enabled"), "password_hash": _l("Password")}, title=_l("User"),
          values={"type": {"user": _l("Person"), "api": _l("API user")}, "role": role_label})
    # What the login and account records hold besides the tracked fields (core.views, core.sessions, …).
    name_fields("user", {"step": _l("Step")}, values={"step": {"password": _l("Password"),
                                                               "code": _l("Two-factor code")}})
    name_actions("login", {"succeeded": _l("Login succeeded"), "failed": _l("Login failed")})
    name_actions("api", {"login_failed": _l("API token refused")})
    name_actions("user", {"logged_out": _l("Logged out")})
    name_actions("token", {"rotated": _l("API token rotated")})
    name_actions("two_factor", {"enabled": _l("Two-factor login turned on"),
                                "disabled": _l("Two-factor login turned off")})
    name_kind("settings", _l("Settings"))
    name_fields("settings", lambda: {setting.name: setting.label for setting in editable_settings()})
    name_actions("settings", {"changed": _l("Settings changed")})
    name_kind("audit", _l("Audit log"))
    name_actions("audit", {"exported": _l("Audit log downloaded")})
    name_fields("audit", {"actor": _l("Who"), "action": _l("Action"), "object": _l("Object"),
                          "object_id": _l("Object id"), "from": _l("From day"), "to": _l("To day"),
                          "encoding": _l("Encoding"), "format": _l("Format")},
                values={"encoding": ENCODING_NAMES, "object": _KINDS, "action": _filtered_action})


def _filtered_action(value: Any) -> str:
    """The action filter a download was narrowed by: an action in words, or an object's kind (all its actions)."""
    return action_title(value) if "." in str(value) else str(_KINDS.get(value, value))


def _settings_changed(_sender: Any, changes: Mapping[str, tuple[Any, Any]], **_extra: Any) -> None:
    """Record settings changed in the browser (settings_changed), each value before and after."""
    if changes:
        record("settings.changed", Target("settings"), {name: pair[0] for name, pair in changes.items()},
               {name: pair[1] for name, pair in changes.items()})
