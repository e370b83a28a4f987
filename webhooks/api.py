"""/api/webhooks: endpoints, their secrets, test events, the delivery log and replays (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from core.auth import Permission, require
from core.inputs import json_body, whole_number
from webhooks import endpoints, log
from webhooks.catalogue import EVENT_TYPES, HIGH_VOLUME

bp = Blueprint("webhooks_api", __name__, url_prefix="/api/webhooks")

ENDPOINT_INPUT = {
    "type": "object",
    "description": "A PUT changes the fields given. The secret is made by Kairan (POST …/secret for a new one).",
    "properties": {
        "url": {"type": "string", "maxLength": 2000, "description": "http:// or https://, with a host."},
        "description": {"type": "string", "maxLength": 200},
        "event_types": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "enabled": {"type": "boolean", "default": True},
        "batch_high_volume": {"type": "boolean", "default": False,
                              "description": f"Send {', '.join(sorted(HIGH_VOLUME))} up to 100 in one request "
                                             '(type "batch", data the list of events).'},
    },
    "required": ["url", "event_types"],
}
ENDPOINT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "url": {"type": "string"}, "description": {"type": "string"},
        "event_types": {"type": "array", "items": {"type": "string"}}, "enabled": {"type": "boolean"},
        "batch_high_volume": {"type": "boolean"},
        "failing_since": {"type": "string", "format": "date-time", "nullable": True},
        "disabled_at": {"type": "string", "format": "date-time", "nullable": True,
                        "description": "Set when Kairan switched it off after three days of failures."},
        "created_at": {"type": "string", "format": "date-time"},
        "secret": {"type": "string", "description": "whsec_…: only when it was just made, or from GET …/secret."},
    },
}
ENDPOINT_PATH = [{"in": "path", "name": "endpoint_id", "required": True, "schema": {"type": "integer"}}]


def _one(endpoint_id: int) -> Any:
    return endpoints.get_endpoint(endpoint_id)


@bp.get("/event-types")
@require(Permission.SETTINGS_MANAGE)
def api_event_types() -> Any:
    """List the event types.
    ---
    get:
      tags: [webhooks]
      summary: The event types an endpoint can ask for, with their names in the caller's language.
      responses:
        200: {description: '{"data": [{"type": "message.opened", "label": "…", "batchable": true}, …]}'}
    """
    return jsonify(data=[{"type": name, "label": str(label), "batchable": name in HIGH_VOLUME}
                         for name, label in EVENT_TYPES.items()])


@bp.get("")
@require(Permission.SETTINGS_MANAGE)
def api_list() -> Any:
    """List webhook endpoints.
    ---
    get:
      tags: [webhooks]
      summary: Every endpoint, without its secret.
      responses:
        200:
          description: The endpoints.
          content:
            application/json:
              schema:
                type: object
                properties: {data: {type: array, items: {$ref: '#/components/schemas/WebhookEndpoint'}}}
    """
    return jsonify(data=[endpoints.endpoint_as_dict(e) for e in endpoints.all_endpoints()])


@bp.post("")
@require(Permission.SETTINGS_MANAGE)
def api_create() -> Any:
    """Add a webhook endpoint.
    ---
    post:
      tags: [webhooks]
      summary: Add an endpoint; the answer carries its new signing secret.
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/WebhookEndpointInput'}
      responses:
        200:
          description: The endpoint, with its secret.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/WebhookEndpoint'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=endpoints.endpoint_as_dict(endpoints.add_endpoint(json_body()), with_secret=True))


@bp.get("/<int:endpoint_id>")
@require(Permission.SETTINGS_MANAGE)
def api_get(endpoint_id: int) -> Any:
    """Get a webhook endpoint.
    ---
    get:
      tags: [webhooks]
      summary: One endpoint, without its secret.
      parameters: [{in: path, name: endpoint_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The endpoint.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=endpoints.endpoint_as_dict(_one(endpoint_id)))


@bp.put("/<int:endpoint_id>")
@require(Permission.SETTINGS_MANAGE)
def api_update(endpoint_id: int) -> Any:
    """Change a webhook endpoint.
    ---
    put:
      tags: [webhooks]
      summary: Change the fields given; enabling a switched-off endpoint starts it afresh.
      parameters: [{in: path, name: endpoint_id, required: true, schema: {type: integer}}]
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/WebhookEndpointInput'}
      responses:
        200: {description: The endpoint.}
        400: {$ref: '#/components/responses/Error'}
    """
    found = _one(endpoint_id)
    return jsonify(data=endpoints.endpoint_as_dict(endpoints.update_endpoint(found, json_body())))


@bp.delete("/<int:endpoint_id>")
@require(Permission.SETTINGS_MANAGE)
def api_delete(endpoint_id: int) -> Any:
    """Delete a webhook endpoint.
    ---
    delete:
      tags: [webhooks]
      summary: Delete an endpoint with its waiting messages and its log.
      parameters: [{in: path, name: endpoint_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: 'Done: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
    """
    endpoints.delete_endpoint(_one(endpoint_id))
    return jsonify(data=True)


@bp.get("/<int:endpoint_id>/secret")
@require(Permission.SETTINGS_MANAGE)
def api_secret(endpoint_id: int) -> Any:
    """Show an endpoint's signing secret.
    ---
    get:
      tags: [webhooks]
      summary: 'The secret (whsec_…) the receiver verifies webhook-signature with.'
      parameters: [{in: path, name: endpoint_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: '{"data": {"secret": "whsec_…"}}'}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data={"secret": _one(endpoint_id).secret})


@bp.post("/<int:endpoint_id>/secret")
@require(Permission.SETTINGS_MANAGE)
def api_rotate(endpoint_id: int) -> Any:
    """Make a new signing secret.
    ---
    post:
      tags: [webhooks]
      summary: Replace the endpoint's secret; requests from now on are signed with the new one.
      parameters: [{in: path, name: endpoint_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: '{"data": {"secret": "whsec_…"}}'}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data={"secret": endpoints.rotate_secret(_one(endpoint_id)).secret})


@bp.post("/<int:endpoint_id>/test")
@require(Permission.SETTINGS_MANAGE)
def api_test(endpoint_id: int) -> Any:
    """Send a test event.
    ---
    post:
      tags: [webhooks]
      summary: Queue a webhook.test event for this endpoint alone; its request shows in the log.
      parameters: [{in: path, name: endpoint_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: 'Queued: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
    """
    log.send_test(_one(endpoint_id))
    return jsonify(data=True)


@bp.get("/<int:endpoint_id>/attempts")
@require(Permission.SETTINGS_MANAGE)
def api_attempts(endpoint_id: int) -> Any:
    """An endpoint's delivery log.
    ---
    get:
      tags: [webhooks]
      summary: Requests made to the endpoint, newest first, with their headers, bodies, answers and timing.
      parameters:
        - {in: path, name: endpoint_id, required: true, schema: {type: integer}}
        - {in: query, name: before, schema: {type: integer, minimum: 1}, description: 'Older than this request id.'}
        - {in: query, name: limit, schema: {type: integer, minimum: 1, maximum: 500, default: 50}}
      responses:
        200: {description: '{"data": [request, …]}'}
        400: {$ref: '#/components/responses/Error'}
    """
    found = _one(endpoint_id)
    before = request.args.get("before")
    limit = request.args.get("limit")
    attempts = log.attempts(found, whole_number(before, "before") if before is not None else None,
                            whole_number(limit, "limit", maximum=500) if limit is not None else log.PAGE)
    return jsonify(data=[log.attempt_as_dict(a) for a in attempts])


@bp.post("/<int:endpoint_id>/attempts/<int:attempt_id>/replay")
@require(Permission.SETTINGS_MANAGE)
def api_replay(endpoint_id: int, attempt_id: int) -> Any:
    """Replay a logged request.
    ---
    post:
      tags: [webhooks]
      summary: Queue the request's messages again, with their webhook-id unchanged.
      parameters:
        - {in: path, name: endpoint_id, required: true, schema: {type: integer}}
        - {in: path, name: attempt_id, required: true, schema: {type: integer}}
      responses:
        200: {description: '{"data": {"queued": n}}'}
        400: {$ref: '#/components/responses/Error'}
    """
    found = _one(endpoint_id)
    return jsonify(data={"queued": log.replay(found, log.get_attempt(found, attempt_id))})
