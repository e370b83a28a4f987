"""The events API: POST /api/events (one event or a batch) and GET /api/events, in listmonk's envelope."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from automations.events import events_as_dicts, events_of_body, events_query, ingest
from automations.models import EventSource
from core.api import paginate
from core.auth import Permission, require
from core.inputs import json_body, moment, optional_id_arg

bp = Blueprint("events_api", __name__, url_prefix="/api")
EVENTS_GROUP = "kairan.events_group"  # the app's GroupCommit of events posted (automations/events.py)

# The OpenAPI document's schemas of the events API (registered in automations/__init__.py).
EVENT_INPUT = {
    "type": "object",
    "required": ["name"],
    "description": "Name the subscriber by exactly one of subscriber_id, subscriber_uuid and email.",
    "properties": {
        "subscriber_id": {"type": "integer"},
        "subscriber_uuid": {"type": "string"},
        "email": {"type": "string", "description": "Full-width characters are normalised, as for subscribers."},
        "create_subscriber": {"type": "boolean", "default": False,
                              "description": "With email: add an unknown address as a subscriber on no list."},
        "name": {"type": "string", "pattern": "^[a-z0-9_.:-]{1,64}$", "example": "purchase"},
        "properties": {"type": "object", "description": "At most 16 KB as JSON."},
        "occurred_at": {"type": "string", "format": "date-time",
                        "description": "RFC 3339 with its offset; now when absent; at most a day ahead."},
        "idempotency_key": {"type": "string", "maxLength": 200,
                            "description": "A repeat of a stored key is answered as a duplicate, stored once."},
    },
}
EVENT_BATCH = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/EventInput"}}},
}
EVENT_OUTCOME = {
    "type": "object",
    "description": "What became of each event sent, by its index in the batch (0 for a single event).",
    "properties": {
        "stored": {"type": "array", "items": {"type": "integer"}},
        "duplicates": {"type": "array", "items": {"type": "integer"},
                       "description": "Their idempotency key was stored before (or earlier in the batch)."},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "field": {"type": "string", "nullable": True},
            "message": {"type": "string"}}}},
        "warnings": {"type": "array", "description": "Stored events whose amount adds no revenue, and why (a "
                                                     "conversion event's properties.amount or properties.currency).",
                     "items": {"type": "object", "properties": {
                         "index": {"type": "integer"}, "field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "subscriber_id": {"type": "integer"}, "subscriber_uuid": {"type": "string"},
        "email": {"type": "string"}, "name": {"type": "string"}, "properties": {"type": "object"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "received_at": {"type": "string", "format": "date-time"},
        "idempotency_key": {"type": "string", "nullable": True},
        "source": {"type": "string", "enum": [source.value for source in EventSource]},  # survey: surveys/answers.py
    },
}


@bp.post("/events")
@require(Permission.EVENTS_WRITE)
def post_events() -> Any:
    """Record what subscribers did.
    ---
    post:
      tags: [events]
      summary: 'One event, or a batch of up to 1,000 as {"events": [...]}.'
      description: >
        Each event names its subscriber by subscriber_id, subscriber_uuid or email (create_subscriber
        adds an unknown address, on no list). Bad events are named by their index in a 400, and the
        good ones of the same batch are stored all the same; a batch of more than 1,000 is refused whole.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              oneOf:
                - {$ref: '#/components/schemas/EventInput'}
                - {$ref: '#/components/schemas/EventBatch'}
      responses:
        200:
          description: Every event was stored or was a duplicate.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/EventOutcome'}}}
        400:
          description: "Some events (or the whole request) were refused; the message says why, data says
            which were stored."
          content:
            application/json:
              schema:
                type: object
                required: [message]
                properties: {message: {type: string}, data: {$ref: '#/components/schemas/EventOutcome'}}
    """
    body = json_body()
    events = events_of_body(body)
    outcome = ingest(events, store=current_app.extensions[EVENTS_GROUP]).as_dict()
    if not outcome["errors"]:
        return jsonify(data=outcome)
    if "events" not in body:  # one event: its reason is the message
        return jsonify(message=outcome["errors"][0]["message"], data=outcome), 400
    message = "; ".join(f"{error['index']}: {error['message']}" for error in outcome["errors"][:20])
    return jsonify(message=message, data=outcome), 400


@bp.get("/events")
@require(Permission.EVENTS_READ)
def get_events() -> Any:
    """Read events.
    ---
    get:
      tags: [events]
      summary: Events, newest first (by when they occurred), paged as listmonk pages.
      parameters:
        - {in: query, name: subscriber_id, schema: {type: integer}}
        - {in: query, name: subscriber_uuid, schema: {type: string}}
        - {in: query, name: email, schema: {type: string}}
        - {in: query, name: name, schema: {type: string}}
        - in: query
          name: from
          schema: {type: string, format: date-time}
          description: "From this time (RFC 3339, with its offset)."
        - in: query
          name: to
          schema: {type: string, format: date-time}
          description: "Before this time (RFC 3339, with its offset)."
        - page  # listmonk's, in core.api
        - per_page  # listmonk's, in core.api
      responses:
        200:
          description: A page of events.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    allOf:
                      - {$ref: '#/components/schemas/Page'}
                      - properties: {results: {type: array, items: {$ref: '#/components/schemas/Event'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    start, end = request.args.get("from"), request.args.get("to")
    stmt = events_query(subscriber_id=optional_id_arg("subscriber_id"),
                        subscriber_uuid=request.args.get("subscriber_uuid"), email=request.args.get("email"),
                        name=request.args.get("name"), start=moment(start, "from") if start else None,
                        end=moment(end, "to") if end else None)
    return jsonify(data=paginate(stmt, events_as_dicts))
