"""The events API: POST /api/events (one event or a batch) and GET /api/events, in listmonk's envelope."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from automations.events import (
    EventInput,
    Fate,
    events_as_dicts,
    events_of_body,
    events_query,
    ingest,
    read_event,
    store_events,
)
from automations.models import EventSource
from core import shared_config
from core.api import credentials, paginate
from core.auth import Permission, has_permission, require
from core.db import utcnow
from core.errors import KairanError
from core.group_commit import GroupCommit
from core.held_connection import HeldConnection
from core.inputs import json_body, moment, optional_id_arg, parse_json
from core.users import held_token_role
from tracking.settings import CONVERSIONS

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


EVENTS_PATH = "/api/events"
MAX_FAST_BODY = 64 * 1024  # one event: properties of at most 16 KB, with room for the rest and escapes


class _StaleCredentialsError(Exception):
    """The shared configuration changed since the credentials were read: Flask decides on them afresh."""


class EventsFastPath:
    """WSGI middleware: stores one event posted with an API token this process holds, before Flask dispatches.

    A shop posts each page view and purchase as it happens, so this is the API's busiest write. Flask's request
    (its hooks, the session, the login manager) and the shared configuration's check on every request cost more
    than the insert; here the requests of the moment share one check and one insert, the check in the very
    transaction that writes, so credentials changed on another host count as they do in Flask. Anything else goes
    on to Flask with its body: a batch; an event refused or naming no known subscriber (Flask's 400, in the
    caller's language); a conversion event (its revenue warning); credentials this process does not hold; a
    configuration changed since they were read; a database that fails.
    """

    def __init__(self, app: Flask, next_app: Callable[..., Iterable[bytes]]) -> None:
        self.app, self.next_app = app, next_app
        self.group: GroupCommit[tuple[EventInput, int], Fate] = GroupCommit(self._store)
        self.connection = HeldConnection(app)  # the leaders' one after another (core/held_connection.py)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == EVENTS_PATH and environ.get("REQUEST_METHOD") == "POST":
            body = _small_json_body(environ)
            if body is not None:
                environ["wsgi.input"] = io.BytesIO(body)  # for Flask, should this not answer
                answer = self._answer(environ, body)
                if answer is not None:
                    start_response("200 OK", [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(answer)))])
                    return [answer]
        return self.next_app(environ, start_response)

    def _answer(self, environ: dict[str, Any], body: bytes) -> bytes | None:
        """The 200's body, once the event is stored (or was already); None for Flask to answer."""
        given = credentials(environ.get("HTTP_AUTHORIZATION", ""))
        held = held_token_role(self.app, *given) if given is not None and not environ.get("QUERY_STRING") else None
        if held is None or not has_permission(held[0], Permission.EVENTS_WRITE):
            return None
        with self.app.app_context():
            event = _plain_event(body)
            try:
                fate = self.group([(event, held[1])])[0] if event is not None else Fate.UNKNOWN
            except (_StaleCredentialsError, SQLAlchemyError):  # Flask decides (a key is never stored twice)
                return None
        if fate == Fate.UNKNOWN:
            return None
        stored = fate == Fate.STORED
        return orjson.dumps({"data": {"stored": [0] if stored else [], "duplicates": [] if stored else [0],
                                      "errors": [], "warnings": []}})

    def _store(self, items: list[tuple[EventInput, int]]) -> Sequence[Fate]:
        """The leading thread's write, on the held connection: store the events whose credentials were read under
        the count that this transaction reads."""
        with self.connection.writing():
            shared_config.check(self.app)
            if any(count != shared_config.checked_count() for _event, count in items):
                raise _StaleCredentialsError()  # rolled back as the session closes
            return store_events([event for event, _count in items], utcnow(), EventSource.API)


def _plain_event(body: bytes) -> EventInput | None:
    """The body's one event when it passes every check and earns no revenue warning; else None."""
    try:
        raw = parse_json(body)
        if not isinstance(raw, dict) or "events" in raw:
            return None
        event = read_event(0, raw, utcnow())
    except (ValueError, KairanError):
        return None
    return None if event.name in CONVERSIONS.current().events else event


def _small_json_body(environ: dict[str, Any]) -> bytes | None:
    """The body of a JSON request whose length is given and small, read whole; else None (left unread)."""
    length = environ.get("CONTENT_LENGTH", "")
    if not environ.get("CONTENT_TYPE", "").startswith("application/json") or not length.isdigit():
        return None
    if int(length) > MAX_FAST_BODY:
        return None
    return environ["wsgi.input"].read(int(length))
