"""The "event" segment rule: did (or did not) a subscriber do a customer event, how often, when, with what property.

    {"field": "event", "op": "did", "value": {"name": "purchase", "min_count": 2, "within_days": 30}}
    {"field": "event", "op": "did_not", "value": {"name": "purchase", "within_days": 30,
                                                  "property": {"key": "product", "op": "contains", "value": "ink"}}}

The period is ``within_days`` (the last N days) or ``from`` and/or ``to`` (RFC 3339 with an offset; from is
included, to is not, as GET /api/events reads them), or neither (ever). It compiles to one correlated
``EXISTS (SELECT … FROM events WHERE subscriber_id = subscribers.id AND name = … AND occurred_at >= … LIMIT 1
OFFSET min_count - 1)``: the N-th matching event exists, found on the (subscriber_id, occurred_at) index and
read no further than N rows; the same statement on SQLite and PostgreSQL but for reading a property
(lists' JSON helpers, as attribute rules).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import literal, not_, select
from sqlalchemy.sql.elements import ColumnElement

from automations.events import NAME
from automations.models import Event
from core.db import utcnow
from core.errors import ValidationError
from core.inputs import moment, whole_in
from lists.errors import RuleError
from lists.models import Subscriber
from lists.segment_expressions import register_function
from lists.segment_rules import compare_numbers, compare_text, json_number, json_text, register_rule_kind

OPS = ("did", "did_not")
MAX_DAYS = 3650
MAX_COUNT = 1000
PROPERTY_TEXT_OPS = ("eq", "ne", "contains")
PROPERTY_NUMBER_OPS = ("eq", "gt", "gte", "lt", "lte")
VALUE_KEYS = frozenset(("name", "min_count", "within_days", "from", "to", "property"))


def _period(value: dict[str, Any], now: datetime) -> list[ColumnElement[bool]]:
    """The conditions on occurred_at: the last N days, or from/to, or none (ever)."""
    if "within_days" in value:
        if "from" in value or "to" in value:
            raise RuleError(_("An event rule takes within_days or from/to, not both."))
        days = whole_in(value["within_days"], 1, MAX_DAYS)
        if days is None:
            raise RuleError(_("within_days must be a whole number from 1 to %(n)d.", n=MAX_DAYS))
        return [Event.occurred_at >= now - timedelta(days=days)]
    conditions: list[ColumnElement[bool]] = []
    bounds: dict[str, datetime] = {}
    for key in ("from", "to"):
        if key in value:
            try:
                bounds[key] = moment(value[key], key)
            except ValidationError:
                raise RuleError(_("%(field)s must be a time with its offset, like 2026-05-01T09:00:00+09:00.",
                                  field=key)) from None
    if "from" in bounds:
        conditions.append(Event.occurred_at >= bounds["from"])
    if "to" in bounds:
        conditions.append(Event.occurred_at < bounds["to"])
    if len(bounds) == 2 and bounds["from"] >= bounds["to"]:
        raise RuleError(_("An event rule's from must be before its to."))
    return conditions


def property_condition(condition: Any) -> ColumnElement[bool]:
    """One condition on properties.<key>: a text (eq, ne, contains) or a number (eq, gt, gte, lt, lte)."""
    if not isinstance(condition, dict) or set(condition) - {"key", "op", "value"}:
        raise RuleError(_("An event rule's property is {\"key\", \"op\", \"value\"}."))
    key, op, wanted = condition.get("key"), condition.get("op"), condition.get("value")
    if not isinstance(key, str) or not 0 < len(key) <= 64 or '"' in key:
        raise RuleError(_("An event rule's property needs the property's name (at most 64 characters)."))
    if isinstance(wanted, str):
        if op not in PROPERTY_TEXT_OPS:
            raise RuleError(_("Unknown comparison %(op)s for a text property (eq, ne, contains).", op=op))
        return compare_text(json_text(Event.properties, key), op, wanted)
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        if op not in PROPERTY_NUMBER_OPS:
            raise RuleError(_("Unknown comparison %(op)s for a number property (eq, gt, gte, lt, lte).", op=op))
        return compare_numbers(json_number(Event.properties, key), op, wanted)
    raise RuleError(_("An event rule's property is compared with a text or a number."))


def compile_event(rule: dict[str, Any], now: datetime | None = None) -> ColumnElement[bool]:
    """Compile an event rule into a WHERE expression on subscribers, or raise RuleError saying what is wrong."""
    op, value = rule.get("op"), rule.get("value")
    if op not in OPS:
        raise RuleError(_("Unknown comparison %(op)s for an event (did, did_not).", op=op))
    if not isinstance(value, dict):
        raise RuleError(_("An event rule's value is an object with the event's name."))
    unknown = sorted(set(value) - VALUE_KEYS)
    if unknown:
        raise RuleError(_("Unknown key %(key)s in an event rule.", key=unknown[0]))
    name = value.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise RuleError(_("An event's name is 1 to 64 of a–z, 0–9, _ . : and -."))
    min_count = whole_in(value.get("min_count", 1), 1, MAX_COUNT)
    if min_count is None:
        raise RuleError(_("min_count must be a whole number from 1 to %(n)d.", n=MAX_COUNT))
    conditions = [Event.subscriber_id == Subscriber.id, Event.name == name,
                  *_period(value, now or utcnow())]
    if value.get("property") is not None:
        conditions.append(property_condition(value["property"]))
    nth = select(literal(1)).select_from(Event).where(*conditions).limit(1)
    if min_count > 1:
        nth = nth.offset(min_count - 1)
    did = nth.exists()
    return did if op == "did" else not_(did)


# The expression language's did(…): its keywords that are no property condition, and the rule's keys they stand for.
EXPRESSION_KEYWORDS = {"within_days": "within_days", "at_least": "min_count", "since": "from", "until": "to"}


def did_expression(args: list[Any], keywords: dict[str, Any], negated: bool) -> dict[str, Any]:
    """``did("purchase", within_days=30, at_least=2, product__contains="ink")`` as an event rule; ``not did(…)`` is
    did_not. Any other keyword is the property condition: ``key="x"`` (eq) or ``key__op=value``."""
    if len(args) != 1:
        raise RuleError(_("did takes the event's name first, in quotes: did(\"purchase\", within_days=30)."))
    value: dict[str, Any] = {"name": args[0]}
    conditions = []
    for keyword, wanted in keywords.items():
        if keyword in EXPRESSION_KEYWORDS:
            value[EXPRESSION_KEYWORDS[keyword]] = wanted
            continue
        key, _sep, op = keyword.rpartition("__")
        if not key or op not in {*PROPERTY_TEXT_OPS, *PROPERTY_NUMBER_OPS}:
            key, op = keyword, "eq"
        conditions.append({"key": key, "op": op, "value": wanted})
    if len(conditions) > 1:
        raise RuleError(_("did takes one property condition at most."))
    if conditions:
        value["property"] = conditions[0]
    return {"field": "event", "op": "did_not" if negated else "did", "value": value}


def register() -> None:
    """Add the event rule to lists' segment rules and did(…) to its expressions (init_app; again is a no-op)."""
    register_rule_kind("event", compile_event)
    register_function("did", did_expression)
