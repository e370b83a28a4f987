"""Segment rules on opens and clicks by people (tracking/classify.py's verdict), never machines':

    {"field": "opened", "op": "did", "value": {"campaign_id": 12, "within_days": 30}}
    {"field": "clicked", "op": "did_not", "value": {"campaign_id": 12}}
    {"field": "engaged", "op": "did_not", "value": {"within_days": 90}}
    {"field": "missed", "op": "did", "value": {"campaign_id": 12, "machine_openers": false}}

"opened" counts a person's click as an open too (images blocked, the link followed), as the report does; "engaged"
is a person's open or click. Both values are optional (any campaign, ever); "engaged" needs within_days.

Each compiles to a correlated EXISTS over the subscriber's deliveries (looked up by their (subscriber_id,
campaign_id) key) and their tracking events (by (delivery_id, kind)) where ``human`` is true. Without a period a
delivery's first_open_at / first_click_at (people's only, kept by the flusher) answer it without reading events.
With KAIRAN_TRACK_INDIVIDUALS off, events name no delivery: nobody is selected as having opened.

"missed" is a resend's audience (mailer/resends.py): the campaign's message was sent to the subscriber, and nobody
opened or clicked it as a person, it did not bounce, and drew no complaint and no unsubscribe through it. With
machine_openers false, messages a machine opened or clicked (Apple's prefetch, a scanner) are left out too: whether
a person saw those is unknown. With KAIRAN_TRACK_INDIVIDUALS off nobody is known to have opened, so it is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import false, literal, not_, select, true
from sqlalchemy.sql.elements import ColumnElement

from core.db import utcnow
from core.inputs import ID_MAX, whole_in
from lists.errors import RuleError
from lists.models import Subscriber
from lists.segment_expressions import FunctionRule, register_function
from lists.segment_rules import Compiler, register_rule_kind
from mailer.models import Delivery, DeliveryStatus
from tracking.models import Bounce, EventKind, TrackingEvent

MAX_DAYS = 3650
OPS = ("did", "did_not")
KINDS = {"opened": (EventKind.OPEN, EventKind.CLICK), "clicked": (EventKind.CLICK,),
         "engaged": (EventKind.OPEN, EventKind.CLICK)}


def _compiler(field: str) -> Compiler:
    def compile_behaviour(rule: dict[str, Any]) -> ColumnElement[bool]:
        op, value = rule.get("op"), rule.get("value")
        value = {} if value is None else value
        if op not in OPS:
            raise RuleError(_("Unknown comparison %(op)s for %(field)s (did, did_not).", op=op, field=field))
        if not isinstance(value, dict):
            raise RuleError(_("The value of a rule on %(field)s is an object (campaign_id, within_days).", field=field))
        allowed = {"within_days"} if field == "engaged" else {"campaign_id", "within_days"}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise RuleError(_("Unknown key %(key)s in a rule on %(field)s.", key=unknown[0], field=field))
        conditions: list[ColumnElement[bool]] = [Delivery.subscriber_id == Subscriber.id]
        if value.get("campaign_id") is not None:
            campaign_id = whole_in(value["campaign_id"], 1, ID_MAX)
            if campaign_id is None:
                raise RuleError(_("campaign_id must be a campaign's id."))
            conditions.append(Delivery.campaign_id == campaign_id)
        days = value.get("within_days")
        if days is None and field == "engaged":
            raise RuleError(_("An engaged rule needs within_days."))
        if days is None:
            first = Delivery.first_click_at if field == "clicked" else Delivery.first_open_at
            found = select(literal(1)).select_from(Delivery).where(*conditions, first.is_not(None)).exists()
        else:
            whole = whole_in(days, 1, MAX_DAYS)
            if whole is None:
                raise RuleError(_("within_days must be a whole number from 1 to %(n)d.", n=MAX_DAYS))
            since = utcnow() - timedelta(days=whole)
            found = (select(literal(1)).select_from(Delivery)
                     .join(TrackingEvent, TrackingEvent.delivery_id == Delivery.id)
                     .where(*conditions, TrackingEvent.kind.in_(KINDS[field]), TrackingEvent.human == true(),
                            TrackingEvent.at >= since).exists())
        return found if op == "did" else not_(found)
    return compile_behaviour


def compile_missed(rule: dict[str, Any]) -> ColumnElement[bool]:
    """Compile "missed": sent the campaign, and no person's open or click, bounce, complaint or unsubscribe since."""
    op, value = rule.get("op"), rule.get("value")
    if op not in OPS:
        raise RuleError(_("Unknown comparison %(op)s for %(field)s (did, did_not).", op=op, field="missed"))
    if not isinstance(value, dict) or sorted(set(value) - {"campaign_id", "machine_openers"}):
        raise RuleError(_("The value of a rule on missed is an object (campaign_id, machine_openers)."))
    campaign_id = whole_in(value.get("campaign_id"), 1, ID_MAX)
    if campaign_id is None:
        raise RuleError(_("campaign_id must be a campaign's id."))
    if not current_app.config["KAIRAN"].tracking.individuals:
        raise RuleError(_("Opens are not tracked per reader (KAIRAN_TRACK_INDIVIDUALS is off), so who missed a "
                          "campaign cannot be told."))
    # Each NOT EXISTS looks one delivery up by its id: bounces by (delivery_id, type), events by (delivery_id, kind).
    conditions = [Delivery.subscriber_id == Subscriber.id, Delivery.campaign_id == campaign_id,
                  Delivery.run_id == 0, Delivery.status == DeliveryStatus.SENT, Delivery.first_open_at.is_(None),
                  Delivery.first_click_at.is_(None), Delivery.unsubscribed_at.is_(None),
                  ~select(literal(1)).select_from(Bounce).where(Bounce.delivery_id == Delivery.id).exists()]
    if value.get("machine_openers") is not True:
        conditions.append(~select(literal(1)).select_from(TrackingEvent).where(
            TrackingEvent.delivery_id == Delivery.id, TrackingEvent.human == false()).exists())
    found = select(literal(1)).select_from(Delivery).where(*conditions).exists()
    return found if op == "did" else not_(found)


def _expression(field: str) -> FunctionRule:
    """The expression language's ``opened(campaign=12, within_days=30)``, ``not engaged(within_days=90)``."""
    def rule(args: list[Any], keywords: dict[str, Any], negated: bool) -> dict[str, Any]:
        if args:
            raise RuleError(_("Name each argument of %(name)s.", name=field))
        value = {"campaign_id" if key == "campaign" else key: wanted for key, wanted in keywords.items()}
        return {"field": field, "op": "did_not" if negated else "did", "value": value}
    return rule


def register() -> None:
    """Add opened, clicked and engaged to lists' segment rules and expressions, and missed to the rules (init_app;
    again is a no-op)."""
    for field in KINDS:
        register_rule_kind(field, _COMPILERS[field])
        register_function(field, _EXPRESSIONS[field])
    register_rule_kind("missed", compile_missed)


_COMPILERS = {field: _compiler(field) for field in KINDS}
_EXPRESSIONS = {field: _expression(field) for field in KINDS}
