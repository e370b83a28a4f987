"""What a live automation holds on to: the lists and segments it reads may not be deleted under it, and a run whose
message could not be rendered for its reader fails with the reason (the mailer says so through core's signals)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from automations.engine import definition_of
from automations.errors import InUseError
from automations.models import Automation, AutomationStatus, Run, RunState, StepCount
from core.db import db, utcnow

LIVE = (AutomationStatus.ACTIVE, AutomationStatus.PAUSED)


def _rule_lists(rule: Any) -> Iterator[int]:
    """The list ids a segment rule names ({"field": "list", "value": id or [ids]}), at any depth."""
    if isinstance(rule, dict):
        if rule.get("field") == "list":
            values = rule.get("value")
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, int):
                    yield value
        for part in rule.get("rules") or []:
            yield from _rule_lists(part)


def _uses(definition: dict[str, Any]) -> tuple[set[int], set[int]]:
    """The lists and the segments a definition uses: its trigger's, its update steps' and its conditions'."""
    trigger = definition.get("trigger") or {}
    lists = {int(trigger["list_id"])} if trigger.get("kind") == "subscribed" else set()
    segments = {int(trigger["segment_id"])} if trigger.get("kind") == "segment" else set()
    for step in (definition.get("steps") or {}).values():
        lists |= {int(i) for i in [*step.get("add_lists", []), *step.get("remove_lists", [])]}
        lists |= set(_rule_lists(step.get("rule")))
    return lists, segments


def _live() -> Iterator[tuple[str, set[int], set[int]]]:
    for automation in db.session.scalars(select(Automation).where(Automation.status.in_(LIVE),
                                                                  Automation.version_id.is_not(None))):
        assert automation.version_id is not None  # noqa: S101  (selected so)
        yield (automation.name, *_uses(definition_of(automation.version_id).raw))


def refuse_used_lists(_sender: object = None, *, ids: list[int]) -> None:
    """lists_deleting: refuse, naming the automation, to delete a list a live automation uses."""
    for name, lists, _segments in _live():
        if lists & set(ids):
            raise InUseError(_("The automation “%(name)s” uses this list: archive it or change it first.", name=name))


def refuse_used_segment(_sender: object = None, *, ids: list[int]) -> None:
    """segment_deleting: refuse, naming the automation, to delete a segment a live automation uses."""
    for name, _lists, segments in _live():
        if segments & set(ids):
            raise InUseError(_("The automation “%(name)s” uses this segment: archive it or change it first.",
                               name=name))


def fail_run(_sender: object = None, *, run_id: int, reason: str) -> None:
    """run_message_failed: the run's message could not be made for its reader; the run fails with the reason."""
    run = db.session.get(Run, run_id)
    if run is None or run.state == RunState.FAILED:
        return
    run.state, run.reason, run.ended_at, run.next_wake_at = RunState.FAILED, reason[:2000], utcnow(), None
    db.session.execute(update(StepCount).where(StepCount.version_id == run.version_id, StepCount.step == run.step)
                       .values(failed=StepCount.failed + 1))
    db.session.commit()
