"""What a step is called on a page: its kind and a short detail (待機: 30日, メール送信: <subject>), as the builder's
card names it. The builder (static/automations.js) takes the kinds from here; the dry run and a subscriber's runs
show the whole label, the step's key only beside it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from automations.graph import message_ids
from core.db import db
from mailer.models import Campaign

STEP_KINDS = {"wait": _l("Wait"), "wait_event": _l("Wait for an event"), "condition": _l("Condition"),
              "split": _l("Split"), "send": _l("Send an email"), "update": _l("Update the subscriber"),
              "notify": _l("Notify the team"), "goal": _l("Goal"), "exit": _l("Exit")}
WAIT_MODES = {"duration": _l("For a while"), "since_entry": _l("N days after entry, at HH:MM"),
              "since_last_mail": _l("N days after the last email, at HH:MM"),
              "weekday": _l("Until a weekday, at HH:MM"), "attribute": _l("Until a date attribute")}
# A wait's length, each part as the builder's card writes it ("%(n)s" filled in the browser too)
DURATION_PARTS = {"days": _l("%(n)s days"), "hours": _l("%(n)s hours"), "minutes": _l("%(n)s minutes")}
# An event trigger's property test, as its card reads: purchase（category が printer）
EVENT_WHERE = _l("%(event)s (%(match)s)")
PROPERTY_MATCHES = {"eq": _l("%(key)s is %(value)s"), "ne": _l("%(key)s is not %(value)s"),
                    "contains": _l("%(key)s contains %(value)s"), "gt": _l("%(key)s is more than %(value)s"),
                    "gte": _l("%(key)s is at least %(value)s"), "lt": _l("%(key)s is less than %(value)s"),
                    "lte": _l("%(key)s is at most %(value)s")}


def builder_labels() -> dict[str, Any]:
    """The kinds, wait modes, duration parts and property tests for the builder's script, translated now."""
    return {"types": {k: str(v) for k, v in STEP_KINDS.items()}, "modes": {k: str(v) for k, v in WAIT_MODES.items()},
            "durations": {k: str(v) for k, v in DURATION_PARTS.items()},
            "matches": {k: str(v) for k, v in PROPERTY_MATCHES.items()}, "event_where": str(EVENT_WHERE)}


def subjects(definitions: list[dict[str, Any]]) -> dict[int, str]:
    """The subjects of the messages the send steps of these definitions send, by campaign id (one query)."""
    ids = {campaign_id for definition in definitions for campaign_id in message_ids(definition)}
    return dict(db.session.execute(select(Campaign.id, Campaign.subject).where(Campaign.id.in_(ids))).all()) \
        if ids else {}


def step_label(step: Any, subjects: Mapping[int, str]) -> str:
    """The step's kind with its detail: 待機: 30日, イベントを待つ: purchase, メール送信: <subject>, 条件."""
    if not isinstance(step, dict):
        return ""
    kind = str(STEP_KINDS.get(str(step.get("type")), step.get("type")))
    detail = ""
    if step.get("type") == "wait":
        mode = step.get("mode") or "duration"
        if mode == "duration":
            detail = " ".join(str(part) % {"n": step[k]} for k, part in DURATION_PARTS.items() if step.get(k))
        else:  # as the card writes it: the mode, then its N and time
            n = next((step[k] for k in ("days", "offset_days") if step.get(k) is not None), "")
            detail = f"{WAIT_MODES.get(mode, mode)} — N={n} {step.get('at') or '09:00'}"
    elif step.get("type") == "wait_event":
        detail = str(step.get("event") or "")
    elif step.get("type") == "send":
        detail = subjects.get(step.get("campaign_id"), _("No email yet"))  # type: ignore[arg-type]
    return f"{kind}: {detail}" if detail else kind
