"""The automations API: /api/automations, in listmonk's envelope.

Create and edit an automation's draft, add its send steps' messages (campaigns of kind automation, filled through
PUT /api/campaigns/{id}), activate, pause or archive it, enrol subscribers, and read its runs and its figures per
step. Errors answer ``{"message": …, "field": …}``: ``field`` names the input at fault, and an activation refused
for its definition names the step (``steps.<key>``, or ``steps.trigger``, ``steps.entry``, …).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from automations.errors import AutomationStateError, DefinitionError
from automations.graph import ways_on
from automations.lifecycle import (
    MAX_NAME,
    change_status,
    create_automation,
    delete_automation,
    get_automation,
    new_message,
    update_automation,
)
from automations.models import Automation, AutomationStatus, AutomationVersion, Run, RunState, RunStep, StepCount
from automations.triggers import enrol, enrol_segment
from core.api import paginate
from core.auth import Permission, require
from core.db import db
from core.errors import KairanError, NotAChoiceError, NotFoundError, ValidationError
from core.inputs import ID_MAX, id_list, json_body, optional_id_arg, whole_number
from core.oneline import one_line
from lists.models import Subscriber

bp = Blueprint("automations_api", __name__, url_prefix="/api")

MAX_ENROL = 10_000  # subscriber ids one enrolment may name
MAX_STEP_KEY = 40
MAX_DEFINITION_BYTES = 256 * 1024  # a hundred steps with their rules are a few kilobytes

# The OpenAPI document's schemas of the automations API (registered in automations/__init__.py).
_TIME = {"type": "string", "format": "date-time"}
_OPTIONAL_TIME = {"type": "string", "format": "date-time", "nullable": True}
_STATUSES = [s.value for s in AutomationStatus]
_STATES = [s.value for s in RunState]
AUTOMATION_INPUT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
        "definition": {"type": "object", "description": "The draft: trigger, entry and exit rules, quiet hours, "
                                                        "start and steps (checked whole on activation)."},
    },
}
AUTOMATION = {
    "type": "object",
    "required": ["id", "name", "status", "version", "created_at", "updated_at", "counts"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "status": {"type": "string", "enum": _STATUSES},
        "version": {"type": "integer", "nullable": True,
                    "description": "The number of the version new runs start on; null until first activated."},
        "created_at": _TIME,
        "updated_at": _TIME,
        "counts": {"type": "object", "description": "Runs of every version: running (waiting now), and ended.",
                   "properties": {state: {"type": "integer"} for state in
                                  ("running", "converted", "completed", "exited", "failed")}},
        "definition": {"type": "object", "description": "The draft (on one automation, not in lists)."},
    },
}
AUTOMATION_RUN = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "subscriber": {"type": "object", "properties": {"id": {"type": "integer"}, "email": {"type": "string"}}},
        "version": {"type": "integer"},
        "state": {"type": "string", "enum": _STATES},
        "step": {"type": "string", "description": 'The step it is at or ended at; "" before its first step.'},
        "entered_at": _TIME,
        "next_wake_at": _OPTIONAL_TIME,
        "ended_at": _OPTIONAL_TIME,
        "reason": {"type": "string", "nullable": True, "description": "Why it exited or failed."},
        "history": {"type": "array", "description": "The steps it passed (on one run, not in lists).",
                    "items": {"type": "object", "properties": {
                        "step": {"type": "string"}, "at": _TIME, "outcome": {"type": "string"},
                        "detail": {"type": "string", "nullable": True}}}},
    },
}
_COUNTER = {"type": "integer"}
AUTOMATION_STATS = {
    "type": "object",
    "properties": {
        "version": {"type": "integer", "nullable": True, "description": "The current version's number."},
        "steps": {"type": "array", "items": {"type": "object", "properties": {
            "step": {"type": "string"}, "type": {"type": "string"},
            "entered": _COUNTER, "waiting": _COUNTER, "passed": _COUNTER, "sent": _COUNTER,
            "converted": _COUNTER, "exited": _COUNTER, "failed": _COUNTER,
            "campaign_id": {"type": "integer", "description": "Send steps only: the step's message."},
            "delivered": {"type": "integer", "description": "Send steps only: sent and not bounced."},
            "opened": {"type": "integer", "description": "Send steps only: deliveries opened by a person."},
            "clicked": {"type": "integer", "description": "Send steps only: deliveries a person clicked."},
            "unsubscribed": {"type": "integer", "description": "Send steps only: deliveries unsubscribed from."},
            "conversions": {"type": "integer", "description": "Send steps only: conversion events attributed to "
                                                              "the message (its campaign report's)."},
            "revenue": {"type": "number", "description": "Send steps only: their revenue, in KAIRAN_CURRENCY."},
        }}},
    },
}

AUTOMATION_ONE = {"type": "object", "properties": {"data": {"$ref": "#/components/schemas/Automation"}}}


@bp.errorhandler(KairanError)
def _refused(error: KairanError) -> Any:
    """Answer as the app does, with the field at fault (an activation refused names the step)."""
    return jsonify(message=error.message, field=error.field), error.status


_WAYS = ("next", "yes", "no", "timeout")


def _shaped(definition: Any) -> Any:
    """Refuse a definition whose parts are not of the JSON types its format says (a step that is not an object, a
    way on that is not a step's key), which the checks of activation and the engine take for granted; None passes
    (no change). Whether it can run is checked on activation."""
    if definition is None:
        return None
    if not isinstance(definition, dict):
        raise DefinitionError(_("An automation's definition is a JSON object."))
    try:
        size = len(orjson.dumps(definition))  # as core.db stores JSON
    except orjson.JSONEncodeError:  # a number past 64 bits: no database keeps it as a number
        raise DefinitionError(_("The definition holds a number too large to keep.")) from None
    if size > MAX_DEFINITION_BYTES:
        raise DefinitionError(_("The definition is %(size)s bytes as JSON; at most %(limit)s are kept.", size=size,
                                limit=MAX_DEFINITION_BYTES))
    if not isinstance(definition.get("start", ""), str | None):
        raise DefinitionError(_("The first step (start) must be one of the steps."))
    steps = definition.get("steps")
    if steps is None:
        return definition
    if not isinstance(steps, dict):
        raise DefinitionError(_("steps is a JSON object of the steps by their key."))
    for key, step in steps.items():
        if not isinstance(step, dict):
            raise DefinitionError(_("The step “%(step)s” is not a JSON object.", step=key), step=key)
        branches = step.get("branches", [])
        ways = [step.get(way) for way in _WAYS] + [b.get("next") if isinstance(b, dict) else b
                                                   for b in (branches if isinstance(branches, list) else [])]
        if not isinstance(branches, list) or any(w is not None and not isinstance(w, str) for w in ways):
            raise DefinitionError(_("The step “%(step)s” leads on to something that is not a step's key.",
                                    step=key), step=key)
        if any(not isinstance(step.get(name, []), list) for name in ("add_lists", "remove_lists")):
            raise DefinitionError(_("The step “%(step)s”: add_lists and remove_lists are lists of list ids.",
                                    step=key), step=key)
    return definition


def _counts(automation_ids: list[int]) -> dict[int, dict[str, int]]:
    counts = {i: {"running": 0, "converted": 0, "completed": 0, "exited": 0, "failed": 0} for i in automation_ids}
    for automation_id, state, n in db.session.execute(
            select(Run.automation_id, Run.state, func.count()).where(Run.automation_id.in_(automation_ids))
            .group_by(Run.automation_id, Run.state)):
        key = "running" if RunState(state) == RunState.WAITING else RunState(state).value
        counts[automation_id][key] = int(n)
    return counts


def _numbers(version_ids: set[int]) -> dict[int, int]:
    """Version numbers by version id."""
    if not version_ids:
        return {}
    return {i: n for i, n in db.session.execute(select(AutomationVersion.id, AutomationVersion.number).where(
        AutomationVersion.id.in_(version_ids)))}


def automation_dicts(automations: list[Automation], *, definition: bool = False) -> list[dict[str, Any]]:
    """Automations as the API answers them (with their draft when ``definition``)."""
    counts = _counts([a.id for a in automations])
    numbers = _numbers({a.version_id for a in automations if a.version_id is not None})
    return [{"id": a.id, "name": a.name, "status": a.status.value,
             "version": numbers.get(a.version_id) if a.version_id is not None else None,
             "created_at": a.created_at.isoformat(), "updated_at": a.updated_at.isoformat(), "counts": counts[a.id],
             **({"definition": a.draft or {}} if definition else {})} for a in automations]


def _one(automation: Automation) -> Any:
    return jsonify(data=automation_dicts([automation], definition=True)[0])


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def run_dicts(runs: list[Run]) -> list[dict[str, Any]]:
    """Runs as the API answers them: their subscriber and version number looked up for the page at once."""
    emails = {i: e for i, e in db.session.execute(select(Subscriber.id, Subscriber.email).where(
        Subscriber.id.in_({r.subscriber_id for r in runs})))} if runs else {}
    numbers = _numbers({r.version_id for r in runs})
    return [{"id": r.id, "subscriber": {"id": r.subscriber_id, "email": emails.get(r.subscriber_id, "")},
             "version": numbers.get(r.version_id, 0), "state": RunState(r.state).value, "step": r.step,
             "entered_at": r.entered_at.isoformat(), "next_wake_at": _iso(r.next_wake_at),
             "ended_at": _iso(r.ended_at), "reason": r.reason} for r in runs]


@bp.get("/automations")
@require(Permission.AUTOMATIONS_READ)
def get_automations() -> Any:
    """List automations.
    ---
    get:
      tags: [automations]
      summary: Automations, newest first, paged as listmonk pages, each with its runs counted by state.
      parameters:
        - page  # listmonk's, in core.api
        - per_page  # listmonk's, in core.api
      responses:
        200:
          description: A page of automations.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    allOf:
                      - {$ref: '#/components/schemas/Page'}
                      - properties: {results: {type: array, items: {$ref: '#/components/schemas/Automation'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=paginate(select(Automation).order_by(Automation.id.desc()), automation_dicts))


@bp.post("/automations")
@require(Permission.AUTOMATIONS_WRITE)
def post_automation() -> Any:
    """Create an automation.
    ---
    post:
      tags: [automations]
      summary: A new automation in draft; its definition is checked when it is activated.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              allOf:
                - {$ref: '#/components/schemas/AutomationInput'}
                - {required: [name]}
      responses:
        200:
          description: The automation.
          content: {application/json: {schema: {$ref: '#/components/schemas/AutomationOne'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    body = json_body()
    return _one(create_automation(body.get("name"), _shaped(body.get("definition"))))


@bp.get("/automations/<int:automation_id>")
@require(Permission.AUTOMATIONS_READ)
def get_one_automation(automation_id: int) -> Any:
    """Read an automation.
    ---
    get:
      tags: [automations]
      summary: One automation with its draft definition.
      parameters: [{in: path, name: automation_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: The automation.
          content: {application/json: {schema: {$ref: '#/components/schemas/AutomationOne'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return _one(get_automation(automation_id))


@bp.put("/automations/<int:automation_id>")
@require(Permission.AUTOMATIONS_WRITE)
def put_automation(automation_id: int) -> Any:
    """Change an automation.
    ---
    put:
      tags: [automations]
      summary: Rename it, or replace its draft definition (an active one keeps running its version until it is
        activated again).
      parameters: [{in: path, name: automation_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/AutomationInput'}}}
      responses:
        200:
          description: The automation.
          content: {application/json: {schema: {$ref: '#/components/schemas/AutomationOne'}}}
        400: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    automation, body = get_automation(automation_id), json_body()
    update_automation(automation, name=body.get("name"), draft=_shaped(body.get("definition")))
    return _one(automation)


@bp.delete("/automations/<int:automation_id>")
@require(Permission.AUTOMATIONS_WRITE)
def delete_one_automation(automation_id: int) -> Any:
    """Delete an automation.
    ---
    delete:
      tags: [automations]
      summary: "Delete a draft or archived automation with its runs, history and messages (409 while it is active
        or paused: archive it first)."
      parameters: [{in: path, name: automation_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: Deleted.
          content: {application/json: {schema: {type: object, properties: {data: {type: boolean}}}}}
        400: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    delete_automation(get_automation(automation_id))
    return jsonify(data=True)


@bp.post("/automations/<int:automation_id>/messages")
@require(Permission.AUTOMATIONS_WRITE)
def post_message(automation_id: int) -> Any:
    """Add a send step's message.
    ---
    post:
      tags: [automations]
      summary: A new message for a send step (a campaign of kind automation, in the default layout); fill it
        through PUT /api/campaigns/{id} and name its campaign_id in a send step.
      description: >
        An automation's message can be edited through PUT /api/campaigns/{id} while its automation is
        active too: a change applies to the messages sent from then on.
      parameters: [{in: path, name: automation_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string, minLength: 1, maxLength: 200}
                subject: {type: string, description: The name when absent.}
      responses:
        200:
          description: The new message's campaign id.
          content:
            application/json:
              schema: {type: object, properties: {data: {type: object, properties: {campaign_id: {type: integer}}}}}
        400: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    automation, body = get_automation(automation_id), json_body()
    if automation.status == AutomationStatus.ARCHIVED:
        raise AutomationStateError(_("An archived automation cannot be changed."))
    name, subject = body.get("name"), body.get("subject", "")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValidationError(_("Give the message a name of at most %(n)d characters.", n=MAX_NAME), field="name")
    if not isinstance(subject, str):
        raise ValidationError(_("subject must be text."), field="subject")
    campaign = new_message(automation, one_line(name, "name"), one_line(subject, "subject"))
    return jsonify(data={"campaign_id": campaign.id})


@bp.put("/automations/<int:automation_id>/status")
@require(Permission.AUTOMATIONS_WRITE)
def put_status(automation_id: int) -> Any:
    """Activate, pause or archive an automation.
    ---
    put:
      tags: [automations]
      summary: "active: check the draft whole and run it (a new version when it changed); paused: hold it;
        archived: end it, its waiting runs exit."
      description: >
        An activation refused for the definition answers 400 with `field` naming the step at fault
        (steps.<key>, or steps.trigger, steps.entry, steps.exit, steps.quiet_hours; definition for the whole).
      parameters: [{in: path, name: automation_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties: {status: {type: string, enum: [active, paused, archived]}}
      responses:
        200:
          description: The automation.
          content: {application/json: {schema: {$ref: '#/components/schemas/AutomationOne'}}}
        400:
          description: Refused; field names the input or the step at fault.
          content:
            application/json:
              schema:
                type: object
                required: [message]
                properties: {message: {type: string}, field: {type: string, nullable: true}}
        409: {$ref: '#/components/responses/Error'}
    """
    automation, body = get_automation(automation_id), json_body()
    status = body.get("status")
    if status not in ("active", "paused", "archived"):
        raise NotAChoiceError(_("status must be one of: active, paused, archived."), field="status")
    if status == AutomationStatus.ACTIVE:
        _shaped(automation.draft)  # drafts saved before this check
    change_status(automation, status)
    return _one(automation)


@bp.post("/automations/<int:automation_id>/enrol")
@require(Permission.AUTOMATIONS_WRITE)
def post_enrol(automation_id: int) -> Any:
    """Enrol subscribers.
    ---
    post:
      tags: [automations]
      summary: Start runs now for up to 10,000 subscribers by id, or for every member of a segment.
      description: >
        Unknown ids are skipped, and so are subscribers the entry rule keeps out (already in it,
        or in it too recently). The automation must be active (409 otherwise).
      parameters: [{in: path, name: automation_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              description: Exactly one of subscriber_ids and segment_id.
              properties:
                subscriber_ids: {type: array, maxItems: 10000, items: {type: integer}}
                segment_id: {type: integer}
      responses:
        200:
          description: How many runs started.
          content:
            application/json:
              schema: {type: object, properties: {data: {type: object, properties: {started: {type: integer}}}}}
        400: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    automation, body = get_automation(automation_id), json_body()
    has_ids, has_segment = body.get("subscriber_ids") is not None, body.get("segment_id") is not None
    if has_ids == has_segment:
        raise ValidationError(_("Give either subscriber_ids or segment_id."), field="subscriber_ids")
    if has_segment:
        segment_id = whole_number(body["segment_id"], "segment_id", maximum=ID_MAX)
        return jsonify(data={"started": enrol_segment(automation, segment_id)})
    ids = body["subscriber_ids"]
    if isinstance(ids, list) and len(ids) > MAX_ENROL:
        raise ValidationError(_("Enrol at most %(n)s subscribers at once; this request names %(count)s.",
                                n=f"{MAX_ENROL:,}", count=f"{len(ids):,}"), field="subscriber_ids")
    return jsonify(data={"started": enrol(automation, id_list(ids, "subscriber_ids"))})


@bp.get("/automations/<int:automation_id>/runs")
@require(Permission.AUTOMATIONS_READ)
def get_runs(automation_id: int) -> Any:
    """List an automation's runs.
    ---
    get:
      tags: [automations]
      summary: Its runs (of every version), newest first, paged as listmonk pages.
      parameters:
        - {in: path, name: automation_id, required: true, schema: {type: integer}}
        - {in: query, name: state, schema: {type: string, enum: [waiting, converted, completed, exited, failed]}}
        - {in: query, name: step, schema: {type: string, maxLength: 40}, description: The step it is at or ended at.}
        - {in: query, name: subscriber_id, schema: {type: integer}}
        - page  # listmonk's, in core.api
        - per_page  # listmonk's, in core.api
      responses:
        200:
          description: A page of runs.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    allOf:
                      - {$ref: '#/components/schemas/Page'}
                      - properties: {results: {type: array, items: {$ref: '#/components/schemas/AutomationRun'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    automation = get_automation(automation_id)
    stmt: Select[Any] = select(Run).where(Run.automation_id == automation.id).order_by(Run.id.desc())
    state = request.args.get("state")
    if state:
        if state not in _STATES:
            raise NotAChoiceError(_("state must be one of: %(allowed)s.", allowed=", ".join(_STATES)), field="state")
        stmt = stmt.where(Run.state == RunState(state))
    step = request.args.get("step")
    if step:
        if len(step) > MAX_STEP_KEY:
            raise ValidationError(_("A step's key is at most %(n)d characters.", n=MAX_STEP_KEY), field="step")
        stmt = stmt.where(Run.step == step)
    subscriber_id = optional_id_arg("subscriber_id")
    if subscriber_id is not None:
        stmt = stmt.where(Run.subscriber_id == subscriber_id)
    return jsonify(data=paginate(stmt, run_dicts))


@bp.get("/automations/<int:automation_id>/runs/<int:run_id>")
@require(Permission.AUTOMATIONS_READ)
def get_one_run(automation_id: int, run_id: int) -> Any:
    """Read a run with its history.
    ---
    get:
      tags: [automations]
      summary: One run, with the steps it passed (history is kept for KAIRAN_AUTOMATION_HISTORY_DAYS).
      parameters:
        - {in: path, name: automation_id, required: true, schema: {type: integer}}
        - {in: path, name: run_id, required: true, schema: {type: integer}}
      responses:
        200:
          description: The run.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/AutomationRun'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    automation = get_automation(automation_id)
    run = db.session.get(Run, run_id)
    if run is None or run.automation_id != automation.id:
        raise NotFoundError(_("This automation has no such run."))
    history = [{"step": s.step, "at": s.at.isoformat(), "outcome": s.outcome, "detail": s.detail}
               for s in db.session.scalars(select(RunStep).where(RunStep.run_id == run.id)
                                           .order_by(RunStep.at, RunStep.id))]
    return jsonify(data={**run_dicts([run])[0], "history": history})


def _in_path_order(start: str, steps: dict[str, Any]) -> list[str]:
    """Step keys as a run meets them, breadth first from the start (JSON objects keep no order everywhere)."""
    order, todo = [], [start]
    while todo:
        key = todo.pop(0)
        if key in steps and key not in order:
            order.append(key)
            todo.extend(t for t in ways_on(steps[key]) if t is not None)
    return order + [key for key in steps if key not in order]


@bp.get("/automations/<int:automation_id>/stats")
@require(Permission.AUTOMATIONS_READ)
def get_stats(automation_id: int) -> Any:
    """Read an automation's figures per step.
    ---
    get:
      tags: [automations]
      summary: Per step of the current version, how many runs entered it, wait there now, passed it, were sent
        its message, converted, exited or failed there; send steps add their message's delivered, opened
        (by people), clicked and unsubscribed, as the campaign reports count them.
      parameters: [{in: path, name: automation_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: The figures (no steps before the first activation).
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/AutomationStats'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    from automations.engine import waiting_now
    from tracking.metrics import metrics_of

    automation = get_automation(automation_id)
    version = db.session.get(AutomationVersion, automation.version_id) if automation.version_id else None
    if version is None:
        return jsonify(data={"version": None, "steps": []})
    counters = ("entered", "passed", "sent", "converted", "exited", "failed")
    totals = {row.step: row for row in db.session.scalars(select(StepCount).where(
        StepCount.version_id == version.id))}
    waiting = waiting_now([version.id])
    steps = dict((version.definition or {}).get("steps") or {})
    campaign_ids = sorted({int(s["campaign_id"]) for s in steps.values() if s.get("type") == "send"})
    metrics = metrics_of(campaign_ids)
    answer = []
    for key in _in_path_order(str(version.definition.get("start")), steps):
        step = steps[key]
        found = totals.get(key)
        row: dict[str, Any] = {"step": key, "type": step.get("type"),
                               **{c: int(getattr(found, c) or 0) if found else 0 for c in counters},
                               "waiting": waiting.get((version.id, key), 0)}
        if step.get("type") == "send":
            m = metrics[int(step["campaign_id"])]
            row |= {"campaign_id": int(step["campaign_id"]), "delivered": m.delivered, "opened": m.unique_opens,
                    "clicked": m.unique_clicks, "unsubscribed": m.unsubscribes, "conversions": m.conversions,
                    "revenue": m.revenue}
        answer.append(row)
    return jsonify(data={"version": version.number, "steps": answer})
