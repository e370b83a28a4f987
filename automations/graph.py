"""An automation's definition: its trigger, entry and exit rules, quiet hours, and its steps as a graph.

    {"trigger": {"kind": "event", "event": "purchase",
                 "property": {"key": "category", "op": "eq", "value": "printer"}},
     "entry": {"mode": "every_time", "dedupe_property": "order_id"},
     "exit": {"on_unsubscribe": true, "events": [{"event": "refund"}]},
     "quiet_hours": {"start": "21:00", "end": "08:00", "carriers_only": true},
     "start": "wait",
     "steps": {"wait": {"type": "wait", "mode": "duration", "days": 30, "next": "check"},
               "check": {"type": "condition", "rule": {…segment rules…}, "yes": "remind", "no": null},
               "remind": {"type": "send", "campaign_id": 12, "next": "ink",
                          "window": {"start": "09:00", "end": "20:00"}},
               "ink": {"type": "wait_event", "event": "purchase", "days": 30, "next": "bought", "timeout": null},
               "bought": {"type": "goal"}}}

A step's way on (``next``, ``yes``/``no``, ``timeout``, a split's branches) names another step, or is null: the
run ends there, completed. ``check`` refuses what cannot run, naming the step: a cycle without a wait, a step no
path reaches, a send without a message, a rule that does not compile. A send step's optional ``window`` sends
only between its start and end (KAIRAN_TIMEZONE): a run reaching it outside waits there until it opens, the
campaigns' sending window by the same function (mailer/throttle.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import time
from typing import Any

from flask_babel import gettext as _

from automations.errors import DefinitionError
from automations.event_rules import property_condition
from automations.events import NAME
from core.inputs import ID_MAX, whole_in
from lists.errors import RuleError
from lists.segment_rules import compile_rule

TRIGGERS = ("event", "subscribed", "date", "segment", "campaign", "manual")
CAMPAIGN_ACTIONS = ("opened", "clicked", "not_opened")
ENTRY_MODES = ("once", "again_after", "every_time")
STEP_TYPES = ("wait", "wait_event", "condition", "split", "send", "update", "notify", "goal", "exit")
WAIT_MODES = ("duration", "since_entry", "since_last_mail", "weekday", "attribute")
WAITS = ("wait", "wait_event")  # a cycle through one of these takes time; one without would spin
# Where each step type goes on: the keys naming the following steps.
WAYS = {"wait": ("next",), "wait_event": ("next", "timeout"), "condition": ("yes", "no"), "send": ("next",),
        "update": ("next",), "notify": ("next",), "goal": (), "exit": ()}
STEP_KEY = re.compile(r"[A-Za-z0-9_-]{1,40}")
ATTRIBUTE = re.compile(r"[^\s.{}]{1,64}")
MAX_STEPS = 100
MAX_DAYS = 3650
QUIET_DEFAULT = {"start": "21:00", "end": "08:00", "carriers_only": True}


@dataclass(frozen=True)
class Definition:
    """A checked definition, read by the engine."""

    raw: dict[str, Any]

    @property
    def trigger(self) -> dict[str, Any]:
        """What starts a run."""
        return dict(self.raw["trigger"])

    @property
    def start(self) -> str:
        """The first step's key."""
        return str(self.raw["start"])

    def step(self, key: str) -> dict[str, Any]:
        """One step by its key."""
        return dict(self.raw["steps"][key])

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        """Every step by key."""
        return dict(self.raw["steps"])

    @property
    def entry(self) -> dict[str, Any]:
        """The entry rule: once (the default), again after N days, or every time."""
        return dict(self.raw.get("entry") or {"mode": "once"})

    @property
    def exit(self) -> dict[str, Any]:
        """The exit rules: unsubscribing from the trigger list (on by default), named events."""
        return {"on_unsubscribe": True, "events": [], **(self.raw.get("exit") or {})}

    @property
    def quiet_hours(self) -> dict[str, Any] | None:
        """When sends wait: 21:00–08:00 for Japanese carriers' addresses unless the definition says otherwise."""
        quiet = self.raw.get("quiet_hours", QUIET_DEFAULT)
        return dict(quiet) if quiet else None

    def campaign_ids(self) -> list[int]:
        """The messages its send steps send."""
        return message_ids(self.raw)


def message_ids(draft: Any) -> list[int]:
    """The messages (campaign ids) the send steps of a draft send, as far as it says (it may not be checked yet:
    an id ``check`` would refuse is left out)."""
    steps = draft.get("steps") if isinstance(draft, dict) else None
    sent = (s.get("campaign_id") for s in (steps.values() if isinstance(steps, dict) else ())
            if isinstance(s, dict) and s.get("type") == "send")
    return [campaign_id for value in sent if (campaign_id := whole_in(value, 1, ID_MAX)) is not None]


def ways_on(step: dict[str, Any]) -> Iterator[Any]:
    """The keys of the steps a step may lead to (None: the run ends; ``check`` refuses anything but a key)."""
    if step.get("type") == "split":
        branches = step.get("branches")
        for branch in branches if isinstance(branches, list) else []:
            yield branch.get("next") if isinstance(branch, dict) else None
        return
    for way in WAYS.get(str(step.get("type")), ()):
        yield step.get(way)


def check(raw: Any, has_content: Callable[[int], bool]) -> Definition:
    """Check a definition whole, raising DefinitionError that names the step (or part) at fault."""
    if not isinstance(raw, dict):
        raise DefinitionError(_("An automation's definition is a JSON object."))
    _check_trigger(raw.get("trigger"))
    _check_entry(raw.get("entry") or {"mode": "once"})
    _check_exit(raw.get("exit") or {})
    _check_quiet(raw.get("quiet_hours", QUIET_DEFAULT))
    steps = raw.get("steps")
    if not isinstance(steps, dict) or not steps:
        raise DefinitionError(_("An automation needs at least one step."))
    if len(steps) > MAX_STEPS:
        raise DefinitionError(_("An automation has at most %(n)d steps.", n=MAX_STEPS))
    for key, step in steps.items():
        if not isinstance(key, str) or not STEP_KEY.fullmatch(key):
            raise DefinitionError(_("A step's key is 1 to 40 of A–Z, a–z, 0–9, _ and -."))
        _check_step(key, step, steps, has_content)
    start = raw.get("start")
    if not isinstance(start, str) or start not in steps:
        raise DefinitionError(_("The first step (start) must be one of the steps."))
    reached = _reachable(str(start), steps)
    unreachable = [key for key in steps if key not in reached]
    if unreachable:
        raise DefinitionError(_("No path reaches the step “%(step)s”: connect it or remove it.", step=unreachable[0]),
                              step=unreachable[0])
    spinning = _cycle_without_wait(steps)
    if spinning is not None:
        raise DefinitionError(_("The steps from “%(step)s” loop back without a wait: a run would never stop. Add a "
                                "wait to the loop.", step=spinning), step=spinning)
    return Definition(raw)


def _check_trigger(trigger: Any) -> None:
    if not isinstance(trigger, dict) or trigger.get("kind") not in TRIGGERS:
        raise DefinitionError(_("The trigger's kind is one of: %(kinds)s.", kinds=", ".join(TRIGGERS)), step="trigger")
    kind = trigger["kind"]
    if kind == "event":
        _check_event_name(trigger.get("event"), "trigger")
        _check_property(trigger.get("property"), "trigger")
    elif kind == "subscribed" and whole_in(trigger.get("list_id"), 1, 2**31 - 1) is None:
        raise DefinitionError(_("Choose the list whose new subscribers start the automation."), step="trigger")
    elif kind == "segment" and whole_in(trigger.get("segment_id"), 1, 2**31 - 1) is None:
        raise DefinitionError(_("Choose the segment whose new members start the automation."), step="trigger")
    elif kind == "campaign":
        if whole_in(trigger.get("campaign_id"), 1, ID_MAX) is None or trigger.get("action") not in CAMPAIGN_ACTIONS:
            raise DefinitionError(_("Choose the campaign and whether its readers opened, clicked or did not open it."),
                                  step="trigger")
        if whole_in(trigger.get("within_days", 3), 1, 365) is None:
            raise DefinitionError(_("within_days must be a whole number from 1 to 365."), step="trigger")
    elif kind == "date":
        if not isinstance(trigger.get("attribute"), str) or not ATTRIBUTE.fullmatch(trigger["attribute"]):
            raise DefinitionError(_("Name the date attribute (like birthday or contract_end)."), step="trigger")
        if whole_in(trigger.get("offset_days", 0), -365, 365) is None:
            raise DefinitionError(_("offset_days must be a whole number from -365 to 365."), step="trigger")
        _check_time(trigger.get("at", "09:00"), "trigger")


def _check_entry(entry: Any) -> None:
    if not isinstance(entry, dict) or entry.get("mode") not in ENTRY_MODES:
        raise DefinitionError(_("The entry rule is once, again_after or every_time."), step="entry")
    if entry["mode"] == "again_after" and whole_in(entry.get("days"), 1, MAX_DAYS) is None:
        raise DefinitionError(_("days must be a whole number from 1 to %(n)d.", n=MAX_DAYS), step="entry")
    dedupe = entry.get("dedupe_property")
    if dedupe is not None and (not isinstance(dedupe, str) or not 0 < len(dedupe) <= 64):
        raise DefinitionError(_("dedupe_property names an event property (at most 64 characters)."), step="entry")


def _check_exit(rules: Any) -> None:
    if not isinstance(rules, dict) or not isinstance(rules.get("events", []), list):
        raise DefinitionError(_("The exit rules are {\"on_unsubscribe\": true, \"events\": [...]}."), step="exit")
    for rule in rules.get("events", []):
        if not isinstance(rule, dict):
            raise DefinitionError(_("An exit event is {\"event\": name}."), step="exit")
        _check_event_name(rule.get("event"), "exit")
        _check_property(rule.get("property"), "exit")


def _check_quiet(quiet: Any) -> None:
    if quiet is None:
        return
    if not isinstance(quiet, dict):
        raise DefinitionError(_("Quiet hours are {\"start\": \"21:00\", \"end\": \"08:00\"}, or null for none."),
                              step="quiet_hours")
    _check_time(quiet.get("start"), "quiet_hours")
    _check_time(quiet.get("end"), "quiet_hours")


def _check_window(key: str, window: Any) -> None:
    if window is None:
        return
    if not isinstance(window, dict):
        raise DefinitionError(_("A sending window is {\"start\": \"09:00\", \"end\": \"20:00\"}, or null for any "
                                "time."), step=key)
    _check_time(window.get("start"), key)
    _check_time(window.get("end"), key)
    if window["start"] == window["end"]:
        raise DefinitionError(_("The email “%(step)s”: a sending window cannot end when it starts (%(time)s).",
                                step=key, time=window["start"]), step=key)


def _check_step(key: str, step: Any, steps: dict[str, Any],  # noqa: PLR0912  (one branch per step type)
                has_content: Callable[[int], bool]) -> None:
    if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
        raise DefinitionError(_("The step “%(step)s” has no known type (%(types)s).", step=key,
                                types=", ".join(STEP_TYPES)), step=key)
    kind = step["type"]
    for target in ways_on(step):
        if target is not None and (not isinstance(target, str) or target not in steps):
            raise DefinitionError(_("The step “%(step)s” leads to “%(target)s”, which is not a step.", step=key,
                                    target=target), step=key)
    if kind == "wait":
        _check_wait(key, step)
    elif kind == "wait_event":
        _check_event_name(step.get("event"), key)
        _check_property(step.get("property"), key)
        if not duration_minutes(step):
            raise DefinitionError(_("The step “%(step)s” needs how long to wait for the event.", step=key), step=key)
    elif kind == "condition":
        try:
            compile_rule(step.get("rule"))
        except RuleError as error:
            raise DefinitionError(_("The condition “%(step)s”: %(error)s", step=key, error=error.message),
                                  step=key) from None
    elif kind == "split":
        _check_split(key, step)
    elif kind == "send":
        campaign_id = whole_in(step.get("campaign_id"), 1, ID_MAX)
        if campaign_id is None or not has_content(campaign_id):
            raise DefinitionError(_("The email “%(step)s” has no message yet: write its subject and content.",
                                    step=key), step=key)
        _check_window(key, step.get("window"))
    elif kind == "update":
        _check_update(key, step)
    elif kind == "notify":
        _check_notify(key, step)


def _check_split(key: str, step: dict[str, Any]) -> None:
    branches = step.get("branches")
    if (not isinstance(branches, list) or not 2 <= len(branches) <= 5
            or any(not isinstance(b, dict) or whole_in(b.get("percent"), 1, 99) is None for b in branches)
            or sum(int(b["percent"]) for b in branches) != 100):
        raise DefinitionError(_("The split “%(step)s” needs 2 to 5 branches whose percentages add up to 100.",
                                step=key), step=key)


def _check_notify(key: str, step: dict[str, Any]) -> None:
    if not isinstance(step.get("to"), str) or "@" not in step["to"] or not str(step.get("subject") or "").strip():
        raise DefinitionError(_("The notification “%(step)s” needs the team's address and a subject.", step=key),
                              step=key)


def _check_wait(key: str, step: dict[str, Any]) -> None:
    mode = step.get("mode", "duration")
    if mode not in WAIT_MODES:
        raise DefinitionError(_("The wait “%(step)s” is one of: %(modes)s.", step=key, modes=", ".join(WAIT_MODES)),
                              step=key)
    if mode == "duration" and not duration_minutes(step):
        raise DefinitionError(_("The wait “%(step)s” needs a length (days, hours or minutes).", step=key), step=key)
    if mode in ("since_entry", "since_last_mail") and whole_in(step.get("days"), 0, MAX_DAYS) is None:
        raise DefinitionError(_("The wait “%(step)s” needs a number of days from 0 to %(n)d.", step=key,
                                n=MAX_DAYS), step=key)
    if mode == "weekday" and whole_in(step.get("weekday"), 0, 6) is None:
        raise DefinitionError(_("The wait “%(step)s” needs a weekday (0 Monday to 6 Sunday).", step=key), step=key)
    if mode == "attribute":
        if not isinstance(step.get("attribute"), str) or not ATTRIBUTE.fullmatch(step["attribute"]):
            raise DefinitionError(_("The wait “%(step)s” needs the date attribute to wait for.", step=key), step=key)
        if whole_in(step.get("offset_days", 0), -MAX_DAYS, MAX_DAYS) is None:
            raise DefinitionError(_("The wait “%(step)s”: offset_days must be a whole number.", step=key), step=key)
    if mode != "duration" or step.get("at") is not None:
        _check_time(step.get("at", "09:00") if mode != "duration" else step["at"], key)


def _check_update(key: str, step: dict[str, Any]) -> None:
    attributes = step.get("attributes", {})
    adding, removing = step.get("add_lists", []), step.get("remove_lists", [])
    lists_ = [*adding, *removing] if isinstance(adding, list) and isinstance(removing, list) else [None]
    if (not isinstance(attributes, dict) or any(not ATTRIBUTE.fullmatch(str(k)) for k in attributes)
            or any(whole_in(i, 1, 2**31 - 1) is None for i in lists_)):
        raise DefinitionError(_("The update “%(step)s” sets attributes by name and adds or removes lists by id.",
                                step=key), step=key)
    if not attributes and not lists_:
        raise DefinitionError(_("The update “%(step)s” changes nothing: set an attribute or a list.", step=key),
                              step=key)


def _check_event_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise DefinitionError(_("An event's name is 1 to 64 of a–z, 0–9, _ . : and -."), step=where)


def _check_property(condition: Any, where: str) -> None:
    if condition is None:
        return
    try:
        property_condition(condition)
    except RuleError as error:
        raise DefinitionError(error.message, step=where) from None


def _check_time(value: Any, where: str) -> None:
    try:
        time.fromisoformat(str(value))
        if not re.fullmatch(r"\d\d:\d\d", str(value)):
            raise ValueError
    except ValueError:
        raise DefinitionError(_("A time of day is HH:MM, like 09:00."), step=where) from None


def duration_minutes(step: dict[str, Any]) -> int:
    """A wait's or a wait for an event's length in minutes (0: none given, or not whole numbers)."""
    parts = [whole_in(step.get(unit, 0), 0, limit) for unit, limit in (("days", MAX_DAYS), ("hours", 10_000),
                                                                      ("minutes", 100_000))]
    if any(part is None for part in parts):
        return 0
    days, hours, minutes = (int(part or 0) for part in parts)
    return days * 1440 + hours * 60 + minutes


def _reachable(start: str, steps: dict[str, Any]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        todo.extend(t for t in ways_on(steps[key]) if t is not None)
    return seen


def _cycle_without_wait(steps: dict[str, Any]) -> str | None:
    """A step on a loop that passes no wait, if any: the graph with the waits taken out must have no cycle."""
    quick = {key: [t for t in ways_on(step) if t is not None and steps[t].get("type") not in WAITS]
             for key, step in steps.items() if step.get("type") not in WAITS}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(key: str) -> str | None:
        state[key] = 1
        for target in quick.get(key, []):
            if state.get(target) == 1:
                return target
            if target not in state and (found := visit(target)) is not None:
                return found
        state[key] = 2
        return None

    for key in quick:
        if key not in state and (found := visit(key)) is not None:
            return found
    return None
