"""Segment rules: conditions on subscribers, combined in AND/OR groups and compiled to SQLAlchemy (never to SQL text).

A rule is JSON: {"field": …, "op": …, "value": …} (attributes add "type"); a group is
{"match": "all" | "any", "rules": [rule or group, …]}. Behaviour rules (opened, clicked,
custom events) arrive with later packages: they register a compiler in RULE_KINDS for
their field, so segments saved today keep working then.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Float, and_, case, cast, false, func, not_, or_, select, true, type_coerce
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from core.db import db, utcnow
from core.inputs import id_or_none
from core.validation import choice
from lists.errors import RuleError
from lists.models import Subscriber, SubscriberStatus, Subscription, SubscriptionStatus

MAX_DEPTH = 4  # groups inside groups; deeper is refused (and never needed)
MAX_RULES = 50
MAX_IN_VALUES = 1000  # values of one "in" rule (listmonk's `subscribers.id IN (…)`)
MAX_ID = 2**63 - 1  # ids are 64-bit at most; a larger number would overflow PostgreSQL's bigint
TEXT_OPS = ("eq", "ne", "contains", "not_contains", "starts_with", "ends_with")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
DATE_OPS = ("before", "after", "within_days", "not_within_days")
ATTRIBUTE_TYPES = ("text", "number", "date", "boolean")

Compiler = Callable[[dict[str, Any]], ColumnElement[bool]]
# Field name → compiler. lists fills in its own fields below; later packages add theirs
# (e.g. tracking's "opened"), and attribute rules ("attribs.<key>") are compiled by _attribute.
RULE_KINDS: dict[str, Compiler] = {}


def register_rule_kind(field: str, compiler: Compiler) -> None:
    """Add a later package's rule kind (automations' "event", tracking's "opened"): lists cannot import them.

    Registering the same compiler again is a no-op (each app built in a process runs init_app again); another
    compiler for a field taken already is a programming error, never a silent override of lists' own fields.
    """
    if RULE_KINDS.get(field, compiler) is not compiler or field.startswith("attribs."):
        raise ValueError(f"segment rule field {field!r} is registered already")
    RULE_KINDS[field] = compiler


def compare_text(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """Compare a text column (or expression) as a text rule does: eq, ne, contains, starts_with, … (public for
    later packages' rule kinds, e.g. a condition on an event's property)."""
    return _text(column, op, value)


def compare_numbers(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """Compare a numeric column (or expression) as a number rule does: eq, ne, gt, gte, lt, lte."""
    return _numbers(column, op, value)


def _text(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "in":
        return column.in_([str(v) for v in _values(value)])
    text = str(value if value is not None else "")
    expressions = {
        "eq": lambda: column == text, "ne": lambda: or_(column != text, column.is_(None)),
        "contains": lambda: column.contains(text, autoescape=True),
        "not_contains": lambda: or_(not_(column.contains(text, autoescape=True)), column.is_(None)),
        "starts_with": lambda: column.startswith(text, autoescape=True),
        "ends_with": lambda: column.endswith(text, autoescape=True),
        # SQL's own patterns (listmonk's queries): % and _ are wildcards, a backslash escapes, on both databases.
        "like": lambda: column.like(text, escape="\\"), "ilike": lambda: column.ilike(text, escape="\\"),
        "gt": lambda: column > text, "gte": lambda: column >= text, "lt": lambda: column < text,
        "lte": lambda: column <= text,
    }
    if op not in expressions:
        raise RuleError(_("Unknown comparison %(op)s for text.", op=op))
    return expressions[op]()


def _values(value: Any) -> list[Any]:
    """The values of an "in" rule: a list of 1 to MAX_IN_VALUES."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_IN_VALUES:
        raise RuleError(_("An “in” rule takes a list of 1 to %(n)d values.", n=MAX_IN_VALUES))
    return value


def _numbers(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """Compare a numeric column (or expression) with a number, or with each of a list ("in")."""
    if op == "in":
        return column.in_([_number(v) for v in _values(value)])
    wanted = _number(value)
    ops = {"eq": column == wanted, "ne": column != wanted, "gt": column > wanted, "gte": column >= wanted,
           "lt": column < wanted, "lte": column <= wanted}
    if op not in ops:
        raise RuleError(_("Unknown comparison %(op)s for numbers.", op=op))
    return ops[op]


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RuleError(_("%(value)s is not a number.", value=value)) from None


def _date(value: Any) -> str:
    try:
        return datetime.strptime(str(value).replace("/", "-"), "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise RuleError(_("%(value)s is not a date (YYYY-MM-DD).", value=value)) from None


def _attribute_path(rule: dict[str, Any]) -> tuple[str, ...]:
    """The keys leading to a rule's attribute: "attribs.<key>", or a nested "path" (listmonk's attribs->'a'->>'b')."""
    path = rule.get("path") or [str(rule["field"])[len("attribs."):]]
    if not isinstance(path, list) or not 0 < len(path) <= MAX_DEPTH or not all(
            isinstance(key, str) and 0 < len(key) <= 64 and '"' not in key for key in path):
        raise RuleError(_("An attribute rule needs the attribute's name."))
    return tuple(path)


def _attribute_field(path: tuple[str, ...], column: Any = Subscriber.attribs) -> Any:
    return column[path[0]] if len(path) == 1 else column[path]


def _json_type_is(path: tuple[str, ...], types: tuple[str, ...],
                  column: Any = Subscriber.attribs) -> ColumnElement[bool]:
    """Whether the attribute's JSON value is of one of these types (SQLite's names: integer, real, true, false)."""
    if db.engine.dialect.name == "postgresql":
        names = {"integer": "number", "real": "number"}
        return func.jsonb_typeof(_attribute_field(path, column)).in_(sorted({names[t] for t in types}))
    return func.json_type(column, "$" + "".join(f'."{key}"' for key in path)).in_(types)


def _attribute_number(path: tuple[str, ...], column: Any = Subscriber.attribs) -> Any:
    """The attribute as a number where it is a JSON number, else NULL (no cast errors on PostgreSQL)."""
    field = _attribute_field(path, column)
    return case((_json_type_is(path, ("integer", "real"), column), cast(field.as_string(), Float)), else_=None)


def json_text(column: Any, key: str) -> Any:
    """A JSON column's top-level key as text (->> on PostgreSQL, json_extract on SQLite), as attribute rules read
    attribs.<key>: public for later packages' JSON columns (an event's properties)."""
    return _attribute_field((key,), column).as_string()


def json_number(column: Any, key: str) -> Any:
    """A JSON column's top-level key as a number where it is a JSON number, else NULL, on both databases."""
    return _attribute_number((key,), column)


def _nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value


def _contains(path: tuple[str, ...], kind: str, value: Any) -> ColumnElement[bool] | None:
    """attribs @> {key: value} on PostgreSQL where it is the very test of an equality rule, else None.

    The GIN index of migration 0006 answers @>, and the planner estimates it from the column's
    statistics; for ->> = value it guesses 0.5%, which at 1M subscribers chose a million index
    probes (bench/audience.py's segment count). A text that reads as a JSON number, boolean,
    null, object or array keeps ->>, which also matches those values' text.
    """
    if db.engine.dialect.name != "postgresql":
        return None
    if kind == "number":
        wanted: Any = _number(value)
        if not math.isfinite(wanted):
            return None
    else:
        wanted = str(value if value is not None else "")
        try:
            if not isinstance(json.loads(wanted), str):
                return None
        except ValueError:
            pass
    return type_coerce(Subscriber.attribs, JSONB).contains(_nested(path, wanted))


def _boolean(path: tuple[str, ...], op: str, value: Any) -> ColumnElement[bool]:
    """A JSON true or false (listmonk's `attribs->>'vip' = true`); "ne" also selects those without one."""
    if not isinstance(value, bool) or op not in ("eq", "ne"):
        raise RuleError(_("A yes/no attribute is compared with = or <> and true or false."))
    if db.engine.dialect.name == "postgresql":
        matches = type_coerce(Subscriber.attribs, JSONB).contains(_nested(path, value))
    else:
        matches = _json_type_is(path, ("true",) if value else ("false",))
    return matches if op == "eq" else not_(func.coalesce(matches, false()))


def _attribute(rule: dict[str, Any]) -> ColumnElement[bool]:
    path, op, kind = _attribute_path(rule), rule.get("op"), rule.get("type") or "text"
    if op == "eq" and kind in ("text", "number"):
        contained = _contains(path, kind, rule.get("value"))
        if contained is not None:
            return contained
    text = _attribute_field(path).as_string()
    if op in ("exists", "not_exists"):
        return text.is_not(None) if op == "exists" else text.is_(None)
    if kind == "boolean":
        return _boolean(path, str(op), rule.get("value"))
    if kind == "number":
        return _numbers(_attribute_number(path), str(op), rule.get("value"))
    if kind == "date":
        return _dates(text, str(op), rule.get("value"))
    return _text(text, str(op), rule.get("value"))


def _dates(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op in ("within_days", "not_within_days"):
        since = (utcnow() - timedelta(days=_number(value))).date().isoformat()
        return column >= since if op == "within_days" else column < since
    if op == "before":
        return column < _date(value)
    if op == "after":
        return column > _date(value)
    raise RuleError(_("Unknown comparison %(op)s for dates.", op=op))


def _moment(value: Any) -> datetime:
    """A date or a date and time (ISO 8601, UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("/", "-"))
    except ValueError:
        raise RuleError(_("%(value)s is not a date (YYYY-MM-DD).", value=value)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timestamp(column: Any) -> Compiler:
    """Rules on a timestamp column: by day (before, after, within days) and, for listmonk's queries, by moment."""
    def compile_timestamp(rule: dict[str, Any]) -> ColumnElement[bool]:
        op, value = str(rule.get("op")), rule.get("value")
        if op in ("within_days", "not_within_days"):
            since = utcnow() - timedelta(days=_number(value))
            return column >= since if op == "within_days" else column < since
        if op in ("eq", "ne", "gt", "gte", "lt", "lte"):
            moment = _moment(value)
            return {"eq": column == moment, "ne": column != moment, "gt": column > moment, "gte": column >= moment,
                    "lt": column < moment, "lte": column <= moment}[op]
        day = datetime.fromisoformat(_date(value)).replace(tzinfo=UTC)
        if op == "before":
            return column < day
        if op == "after":
            return column >= day + timedelta(days=1)
        raise RuleError(_("Unknown comparison %(op)s for dates.", op=op))
    return compile_timestamp


def _id(rule: dict[str, Any]) -> ColumnElement[bool]:
    """A subscriber's id (listmonk's `subscribers.id = 1`)."""
    value = rule.get("value")
    ids = [_one_id(number) for number in value] if isinstance(value, list) else _one_id(value)
    return _numbers(Subscriber.id, str(rule.get("op")), ids)


def _one_id(value: Any) -> int:
    """An id: a whole number, or its digits quoted (PostgreSQL reads subscribers.id = '1' so too)."""
    digits = value.strip() if isinstance(value, str) else ""
    number = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= len(str(MAX_ID)) else value
    if not isinstance(number, int) or isinstance(number, bool) or abs(number) > MAX_ID:
        raise RuleError(_("%(value)s is not an id.", value=value))
    return number


def _members(rule: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The conditions on subscriptions that pick a list rule's list (and subscription status, when given)."""
    list_id = id_or_none(rule.get("value"))
    if list_id is None:
        raise RuleError(_("A list rule needs a list."))
    conditions = [Subscription.list_id == list_id]
    status = rule.get("status")
    if status:
        if status not in {s.value for s in SubscriptionStatus}:
            raise RuleError(_("Unknown subscription status %(s)s.", s=status))
        conditions.append(Subscription.status == SubscriptionStatus(status))
    return conditions


def _membership(rule: dict[str, Any]) -> ColumnElement[bool]:
    members = select(Subscription.subscriber_id).where(*_members(rule))
    if rule.get("op") == "not_member":
        return Subscriber.id.not_in(members)
    if rule.get("op") != "member":
        raise RuleError(_("A list rule is member or not_member."))
    return Subscriber.id.in_(members)


def _status(rule: dict[str, Any]) -> ColumnElement[bool]:
    if rule.get("op") == "in":
        return Subscriber.status.in_([choice(SubscriberStatus, v, "status", required=True)
                                      for v in _values(rule.get("value"))])
    status = choice(SubscriberStatus, rule.get("value"), "status", required=True)
    return Subscriber.status != status if rule.get("op") == "ne" else Subscriber.status == status


def _email(rule: dict[str, Any]) -> ColumnElement[bool]:
    """Addresses are compared case-folded (email_key), patterns and lists of them too."""
    value = rule.get("value")
    folded = [str(v).casefold() for v in value] if isinstance(value, list) else str(value or "").casefold()
    return _text(Subscriber.email_key, str(rule.get("op")), folded)


def _uuid(rule: dict[str, Any]) -> ColumnElement[bool]:
    return _text(Subscriber.uuid, str(rule.get("op")), rule.get("value"))


def _subscriber_name(rule: dict[str, Any]) -> ColumnElement[bool]:
    return _text(Subscriber.name, str(rule.get("op")), rule.get("value"))


RULE_KINDS.update(email=_email, name=_subscriber_name, status=_status, created_at=_timestamp(Subscriber.created_at),
                  updated_at=_timestamp(Subscriber.updated_at), id=_id, uuid=_uuid, list=_membership)
# Read straight from a subscriber's row.
COLUMN_FIELDS = ("email", "name", "status", "created_at", "updated_at", "id", "uuid")


def compile_rule(rule: Any, depth: int = 0) -> ColumnElement[bool]:
    """Compile a rule or a group into a WHERE expression on subscribers, refusing what is not understood."""
    if not isinstance(rule, dict):
        raise RuleError(_("A rule is a JSON object."))
    if "rules" in rule:
        if depth >= MAX_DEPTH:
            raise RuleError(_("Groups may be nested %(n)d deep at most.", n=MAX_DEPTH))
        parts = rule["rules"]
        if not isinstance(parts, list) or len(parts) > MAX_RULES:
            raise RuleError(_("A group holds a list of at most %(n)d rules.", n=MAX_RULES))
        compiled = [compile_rule(part, depth + 1) for part in sorted(parts, key=_cost)]
        if rule.get("match", "all") == "any":
            group = or_(*compiled) if compiled else false()
        else:
            group = and_(*compiled) if compiled else true()
        # A rule on a value someone lacks is NULL in SQL, and NOT NULL selects nobody: "not (age >= 40)"
        # must select those without an age too, so the group counts as false there before it is negated.
        return not_(func.coalesce(group, false())) if rule.get("negate") else group
    field = str(rule.get("field") or "")
    compiler = _attribute if field.startswith("attribs.") else RULE_KINDS.get(field)
    if compiler is None:
        raise RuleError(_("Unknown field %(field)s in a rule.", field=field or "''"))
    return compiler(rule)


def _cost(rule: Any) -> int:
    """How dear a rule is to test on one subscriber, so that a group tests the cheap ones first and skips
    the rest once one decides: a column (0), an attribute read out of the JSON (1), a group as its
    dearest rule, anything with a subquery (a list, later packages' behaviour rules: 2)."""
    if not isinstance(rule, dict):
        return 0
    if isinstance(rule.get("rules"), list):
        return max(map(_cost, rule["rules"]), default=0)
    field = str(rule.get("field") or "")
    return 1 if field.startswith("attribs.") else 0 if field in COLUMN_FIELDS else 2


def _driving_list(rules: Any) -> dict[str, Any] | None:
    """The first "member of a list" rule of an all-group, if any: every subscriber the group selects is on it."""
    if not isinstance(rules, dict) or rules.get("match", "all") != "all" or rules.get("negate") \
            or not isinstance(rules.get("rules"), list):
        return None
    return next((rule for rule in rules["rules"] if isinstance(rule, dict) and "rules" not in rule
                 and rule.get("field") == "list" and rule.get("op") == "member"), None)


def _estimated_rows(stmt: Any) -> float:
    """PostgreSQL's estimate of the rows a SELECT returns, from its statistics (planned, not run)."""
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    plan = db.session.execute(sql_text(f"EXPLAIN (FORMAT JSON) {sql}")).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"])


def _list_drives(driver: dict[str, Any]) -> bool:
    """Whether reading a list's members and looking each up beats scanning every subscriber.

    SQLite starts from the list anyway. PostgreSQL's planner would rather hash the list and scan all
    subscribers, yet at 1M subscribers (one process) a member's lookup cost ~1.5 µs and the hash join
    ~0.25 µs a member plus ~0.45 µs a subscriber: the lookups win while the list holds under about a
    third of everyone (a 200k list: ~490 -> ~300 ms of CPU), and lose on a list of nearly everyone
    (830 -> 1,220 ms), which keeps the hash join.
    """
    if db.engine.dialect.name != "postgresql":
        return True
    members = _estimated_rows(select(Subscription.subscriber_id).where(*_members(driver)))
    return members * 3 < _estimated_rows(select(Subscriber.id))


def _looking_up_each(stmt: Any) -> int:
    """Run a count on PostgreSQL with its planner held to nested loops (each member looked up by id).

    SET LOCAL lasts until the transaction ends, so it is taken inside a savepoint that is then rolled
    back: the caller's later statements are planned as usual. (A lateral subquery with OFFSET 0 forces
    the loop too, but runs it in one process and its cost estimate set off JIT compiling: 1.2 s.)
    """
    savepoint = db.session.begin_nested()
    try:
        db.session.execute(sql_text("SET LOCAL enable_hashjoin = off"))
        db.session.execute(sql_text("SET LOCAL enable_mergejoin = off"))
        return int(db.session.scalar(stmt) or 0)
    finally:
        savepoint.rollback()


def count(rules: dict[str, Any]) -> int:
    """Count the subscribers a rule group selects.

    A list rule of an all-group lets its list drive where that is cheaper (``_list_drives``): the list's
    members come from the subscriptions index and the other rules are tested on each member only, not on
    every subscriber (bench/audience.py: 1M subscribers, a list of 200k). A subscriber is on a list at
    most once, so the join counts each one once.
    """
    where = compile_rule(rules)  # refuses what it does not understand, before anything runs
    driver = _driving_list(rules)
    if driver is None or not _list_drives(driver):
        return db.session.scalar(select(func.count()).select_from(Subscriber).where(where)) or 0
    rest = compile_rule({"match": "all", "rules": [rule for rule in rules["rules"] if rule is not driver]})
    stmt = (select(func.count()).select_from(Subscription)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id).where(*_members(driver), rest))
    if db.engine.dialect.name == "postgresql":
        return _looking_up_each(stmt)
    return db.session.scalar(stmt) or 0
