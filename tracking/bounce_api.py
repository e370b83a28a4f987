"""listmonk's bounces API: /api/bounces and /api/subscribers/{id}/bounces."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from core.api import paginate
from core.auth import Permission, require
from core.db import db
from core.inputs import flag_arg, id_args, optional_id_arg
from lists.errors import SubscriberNotFoundError
from lists.models import Subscriber
from tracking.bounces import bounce_dicts, bounces_query, delete_bounces, get_bounce

bp = Blueprint("bounces_api", __name__, url_prefix="/api")

# listmonk's bounce object, with Kairan's reason fields beside it (OpenAPI components/schemas/Bounce).
BOUNCE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "type": {"type": "string", "enum": ["hard", "soft", "complaint"]},
        "source": {"type": "string", "description": "smtp, imap, pop3, or the provider of a webhook."},
        "meta": {"type": "object", "description": "Free-form; `rule` names the parser rule that read the report."},
        "created_at": {"type": "string", "format": "date-time"},
        "email": {"type": "string"},
        "subscriber_id": {"type": "integer", "nullable": True},
        "subscriber_uuid": {"type": "string", "nullable": True},
        "campaign": {"type": "object", "nullable": True,
                     "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
        "campaign_uuid": {"type": "string", "nullable": True},
        "status": {"type": "string", "description": "RFC 3463 status as reported, e.g. 5.1.1 (Kairan's)."},
        "diagnostic": {"type": "string", "description": "The receiver's words (Kairan's)."},
        "sender_refused": {"type": "boolean",
                           "description": "Refused because of the sender: never suppresses (Kairan's)."},
        "delivery_id": {"type": "integer", "nullable": True, "description": "Kairan's."},
    },
}



def _subscriber(subscriber_id: int) -> Subscriber:
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFoundError()
    return subscriber


@bp.get("/bounces")
@require(Permission.BOUNCES_READ)
def get_bounces() -> Any:
    """List bounces.
    ---
    get:
      tags: [bounces]
      summary: Bounces and complaints, newest first, filtered and paged as listmonk pages them.
      parameters:
        - {in: query, name: campaign_id, schema: {type: integer}}
        - {in: query, name: source, schema: {type: string}, description: "smtp, imap, pop3, or a webhook's provider."}
        - {in: query, name: type, schema: {type: string, enum: [hard, soft, complaint]}, description: Kairan's.}
        - {in: query, name: order_by, schema: {type: string, enum: [email, campaign_name, source, created_at],
           default: created_at}}
        - order  # listmonk's, in core.api
        - page  # listmonk's, in core.api
        - per_page  # listmonk's, in core.api
      responses:
        200:
          description: A page of bounces.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    allOf:
                      - {$ref: '#/components/schemas/Page'}
                      - {properties: {results: {type: array, items: {$ref: '#/components/schemas/Bounce'}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    stmt = bounces_query(campaign_id=optional_id_arg("campaign_id"), source=request.args.get("source", "").strip(),
                         kind=request.args.get("type", ""), order_by=request.args.get("order_by") or "created_at",
                         order=request.args.get("order") or "desc")
    return jsonify(data=paginate(stmt, bounce_dicts))


@bp.delete("/bounces")
@require(Permission.BOUNCES_MANAGE)
def delete_many() -> Any:
    """Delete bounces.
    ---
    delete:
      tags: [bounces]
      summary: Delete the bounces named by id (repeat it, or separate ids with commas), or all with all=true.
      description: Suppressions the bounces caused stay; lift them on the suppression list.
      parameters:
        - {in: query, name: id, schema: {type: array, items: {type: integer}}}
        - {in: query, name: all, schema: {type: boolean}}
      responses:
        200: {description: Deleted.}
        400: {$ref: '#/components/responses/Error'}
    """
    everything = flag_arg("all")
    delete_bounces(id_args("id"), everything=everything)
    return jsonify(data=True)


@bp.get("/bounces/<int:bounce_id>")
@require(Permission.BOUNCES_READ)
def get_one(bounce_id: int) -> Any:
    """Get one bounce.
    ---
    get:
      tags: [bounces]
      summary: One bounce.
      parameters: [{in: path, name: bounce_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: The bounce.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/Bounce'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=bounce_dicts([get_bounce(bounce_id)])[0])


@bp.delete("/bounces/<int:bounce_id>")
@require(Permission.BOUNCES_MANAGE)
def delete_one(bounce_id: int) -> Any:
    """Delete one bounce.
    ---
    delete:
      tags: [bounces]
      summary: Delete one bounce (a suppression it caused stays).
      parameters: [{in: path, name: bounce_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: Deleted.}
        400: {$ref: '#/components/responses/Error'}
    """
    delete_bounces([get_bounce(bounce_id).id])
    return jsonify(data=True)


@bp.get("/subscribers/<int:subscriber_id>/bounces")
@require(Permission.BOUNCES_READ)
def get_subscriber_bounces(subscriber_id: int) -> Any:
    """List a subscriber's bounces.
    ---
    get:
      tags: [subscribers, bounces]
      summary: Every bounce of one subscriber, newest first (not paged, as in listmonk).
      parameters: [{in: path, name: subscriber_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: The subscriber's bounces.
          content:
            application/json:
              schema: {type: object, properties: {data: {type: array, items: {$ref: '#/components/schemas/Bounce'}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    subscriber = _subscriber(subscriber_id)
    return jsonify(data=bounce_dicts(list(db.session.scalars(bounces_query(subscriber_id=subscriber.id)))))


@bp.delete("/subscribers/<int:subscriber_id>/bounces")
@require(Permission.BOUNCES_MANAGE)
def delete_subscriber_bounces(subscriber_id: int) -> Any:
    """Delete a subscriber's bounces.
    ---
    delete:
      tags: [subscribers, bounces]
      summary: Delete every bounce of one subscriber (suppressions they caused stay).
      parameters: [{in: path, name: subscriber_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: Deleted.}
        400: {$ref: '#/components/responses/Error'}
    """
    delete_bounces(subscriber_id=_subscriber(subscriber_id).id)
    return jsonify(data=True)
