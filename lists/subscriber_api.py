"""listmonk-compatible API routes for subscribers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from core.api import paginate
from core.auth import Permission, require
from core.db import db
from core.errors import ValidationError
from core.inputs import json_body, optional_id_arg
from core.validation import choice
from lists.consent_evidence import coded
from lists.export import subscriber_data
from lists.listmonk_query import parse_query
from lists.models import ConsentMethod, Subscriber, SubscriberStatus, SubscriptionStatus
from lists.segments import get_segment
from lists.subscribers import (
    Consent,
    apply_bulk,
    blocklist,
    count_subscribers,
    create_subscriber,
    delete_subscribers,
    get_subscriber,
    manage_lists,
    subscriber_as_dict,
    subscribers_by_id,
    subscribers_query,
    update_subscriber,
)

bp = Blueprint("subscribers_api", __name__, url_prefix="/api")


def api_consent() -> Consent:
    """Record API changes with the API user's name, address and client."""
    return Consent(ConsentMethod.API, evidence=coded("api", user=current_user.username), ip=request.remote_addr,
                   user_agent=request.user_agent.string)


def _choice_arg(name: str, enum_class: type[SubscriptionStatus] | type[SubscriberStatus]) -> str | None:
    member = choice(enum_class, request.args.get(name), name)
    return member.value if member is not None else None


def _serialize(subscribers: list[Any]) -> list[dict[str, Any]]:
    return [subscriber_as_dict(s) for s in subscribers]


@bp.get("/subscribers")
@require(Permission.SUBSCRIBERS_READ)
def get_subscribers() -> Any:
    """Search and page subscribers.
    ---
    get:
      tags: [subscribers]
      summary: Subscribers, newest first, paged as listmonk pages them.
      description: >
        `query` takes Kairan's expression language (`attribs.city == "大阪" and "docomo" in email
        or list == 3`) or listmonk's SQL expression (`subscribers.email='taro@example.com'`,
        `subscribers.attribs->>'city' ILIKE '%阪%'`), which is parsed and translated, never run:
        columns, attributes, comparisons, LIKE, IN, IS NULL, AND/OR/NOT. Anything else is a 400
        that names the part refused.
      parameters:
        - {in: query, name: search, schema: {type: string}}
        - {in: query, name: query, schema: {type: string}, description: An expression or listmonk's SQL (see above).}
        - {in: query, name: segment_id, schema: {type: integer}}
        - {in: query, name: list_id, schema: {type: integer}}
        - {in: query, name: subscription_status, schema: {type: string, enum: [unconfirmed, confirmed, unsubscribed]}}
        - {in: query, name: status, schema: {type: string, enum: [enabled, disabled, blocklisted]}}
        - page  # listmonk's, in core.api
        - per_page  # listmonk's, in core.api
      responses:
        200:
          description: A page of subscribers with their lists.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/Page'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    rules = parse_query(request.args["query"]) if request.args.get("query", "").strip() else None
    segment_id = optional_id_arg("segment_id")
    if segment_id is not None:
        segment_rules = get_segment(segment_id).rules
        rules = {"match": "all", "rules": [rules, segment_rules]} if rules else segment_rules
    filters: dict[str, Any] = {"search": request.args.get("search", ""), "list_id": optional_id_arg("list_id"),
               "subscription_status": _choice_arg("subscription_status", SubscriptionStatus),
               "status": _choice_arg("status", SubscriberStatus), "rules": rules}
    return jsonify(data=paginate(subscribers_query(**filters), _serialize, total=count_subscribers(**filters)))


@bp.get("/subscribers/<int:subscriber_id>")
@require(Permission.SUBSCRIBERS_READ)
def get_one(subscriber_id: int) -> Any:
    """Return one subscriber.
    ---
    get:
      tags: [subscribers]
      summary: One subscriber with its lists.
      parameters: [{in: path, name: subscriber_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The subscriber.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=subscriber_as_dict(get_subscriber(subscriber_id)))


@bp.get("/subscribers/<int:subscriber_id>/export")
@require(Permission.SUBSCRIBERS_WRITE)
def export_one(subscriber_id: int) -> Any:
    """Export everything kept about a subscriber.
    ---
    get:
      tags: [subscribers]
      summary: Profile, subscriptions, consent records and timeline, for a privacy request.
      parameters: [{in: path, name: subscriber_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: "listmonk's export keys, plus consent and timeline."}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(subscriber_data(get_subscriber(subscriber_id)))


@bp.post("/subscribers")
@require(Permission.SUBSCRIBERS_WRITE)
def post_subscriber() -> Any:
    """Create a subscriber.
    ---
    post:
      tags: [subscribers]
      summary: Create a subscriber, optionally subscribed to lists.
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/SubscriberInput'}}}
      responses:
        200: {description: The new subscriber with its lists.}
        400: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=subscriber_as_dict(create_subscriber(json_body(), api_consent())))


def _update(subscriber_id: int, *, partial: bool) -> Any:
    subscriber = get_subscriber(subscriber_id)
    update_subscriber(subscriber, json_body(), api_consent(), partial=partial)
    return jsonify(data=subscriber_as_dict(subscriber))


@bp.put("/subscribers/<int:subscriber_id>")
@require(Permission.SUBSCRIBERS_WRITE)
def put_subscriber(subscriber_id: int) -> Any:
    """Replace a subscriber's fields.
    ---
    put:
      tags: [subscribers]
      summary: Replace email, name, attribs and status; lists given are added.
      parameters: [{in: path, name: subscriber_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/SubscriberInput'}}}
      responses:
        200: {description: The subscriber.}
        400: {$ref: '#/components/responses/Error'}
        409: {description: Another subscriber has the address.}
    """
    return _update(subscriber_id, partial=False)


@bp.patch("/subscribers/<int:subscriber_id>")
@require(Permission.SUBSCRIBERS_WRITE)
def patch_subscriber(subscriber_id: int) -> Any:
    """Change some of a subscriber's fields.
    ---
    patch:
      tags: [subscribers]
      summary: Change only the fields given.
      parameters: [{in: path, name: subscriber_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/SubscriberInput'}}}
      responses:
        200: {description: The subscriber.}
        400: {$ref: '#/components/responses/Error'}
        409: {description: Another subscriber has the address.}
    """
    return _update(subscriber_id, partial=True)


@bp.delete("/subscribers/<int:subscriber_id>")
@require(Permission.SUBSCRIBERS_WRITE)
def delete_one(subscriber_id: int) -> Any:
    """Delete a subscriber.
    ---
    delete:
      tags: [subscribers]
      summary: Delete a subscriber with its subscriptions and consent records.
      parameters: [{in: path, name: subscriber_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: Deleted.}
        400: {$ref: '#/components/responses/Error'}
    """
    get_subscriber(subscriber_id)
    delete_subscribers([subscriber_id])
    return jsonify(data=True)


@bp.delete("/subscribers")
@require(Permission.SUBSCRIBERS_WRITE)
def delete_many() -> Any:
    """Delete several subscribers.
    ---
    delete:
      tags: [subscribers]
      summary: Delete the subscribers given by repeated id parameters.
      parameters: [{in: query, name: id, required: true, schema: {type: array, items: {type: integer}}}]
      responses:
        200: {description: Deleted.}
        400: {$ref: '#/components/responses/Error'}
    """
    delete_subscribers(request.args.getlist("id"))
    return jsonify(data=True)


@bp.put("/subscribers/lists")
@require(Permission.SUBSCRIBERS_WRITE)
def put_lists() -> Any:
    """Add subscribers to lists, remove them, or unsubscribe them.
    ---
    put:
      tags: [subscribers]
      summary: listmonk's subscription management for many subscribers at once.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [ids, action, target_list_ids]
              properties:
                ids: {type: array, items: {type: integer}}
                action: {type: string, enum: [add, remove, unsubscribe]}
                target_list_ids: {type: array, items: {type: integer}}
                status: {type: string, enum: [confirmed, unconfirmed, unsubscribed]}
      responses:
        200: {description: Done.}
        400: {$ref: '#/components/responses/Error'}
    """
    body = json_body()
    manage_lists(subscribers_by_id(body.get("ids") or []), str(body.get("action") or ""),
                 body.get("target_list_ids") or [], body.get("status"), api_consent())
    return jsonify(data=True)


def _ids_for_query(body: dict[str, Any]) -> list[int]:
    """Return the ids the query in body["query"] selects (within body["list_ids"] when given).

    listmonk's `"all": true` with no query means every subscriber (of those lists).
    """
    query = str(body.get("query") or "").strip()
    if not query and body.get("all") is not True:
        raise ValidationError(_("Give a query: an expression such as attribs.city == \"大阪\"."))
    list_ids = body.get("list_ids") or []
    if not isinstance(list_ids, list) or not all(isinstance(i, int) for i in list_ids):
        raise ValidationError(_("List ids must be numbers."))
    rules = parse_query(query) if query else {"match": "all", "rules": []}
    if list_ids:
        rules = {"match": "all", "rules": [rules, {"match": "any", "rules": [
            {"field": "list", "op": "member", "value": i} for i in list_ids]}]}
    return list(db.session.scalars(subscribers_query(rules=rules).with_only_columns(Subscriber.id)))


@bp.post("/subscribers/query/delete")
@require(Permission.SUBSCRIBERS_WRITE)
def delete_by_query() -> Any:
    """Delete the subscribers an expression selects.
    ---
    post:
      tags: [subscribers]
      summary: Delete every subscriber the query (an expression or listmonk's SQL, never run as SQL) selects.
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/SubscriberQuery'}}}
      responses:
        200: {description: Deleted.}
        400: {$ref: '#/components/responses/Error'}
    """
    apply_bulk(_ids_for_query(json_body()), "delete", [], None, api_consent())
    return jsonify(data=True)


@bp.put("/subscribers/query/blocklist")
@require(Permission.SUBSCRIBERS_WRITE)
def blocklist_by_query() -> Any:
    """Blocklist the subscribers an expression selects.
    ---
    put:
      tags: [subscribers]
      summary: Blocklist every subscriber the query selects.
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/SubscriberQuery'}}}
      responses:
        200: {description: Done.}
        400: {$ref: '#/components/responses/Error'}
    """
    apply_bulk(_ids_for_query(json_body()), "blocklist", [], None, api_consent())
    return jsonify(data=True)


@bp.put("/subscribers/query/lists")
@require(Permission.SUBSCRIBERS_WRITE)
def lists_by_query() -> Any:
    """Add, remove or unsubscribe the subscribers an expression selects.
    ---
    put:
      tags: [subscribers]
      summary: Change the list subscriptions of every subscriber the query selects.
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/SubscriberQuery'}}}
      responses:
        200: {description: Done.}
        400: {$ref: '#/components/responses/Error'}
    """
    body = json_body()
    action = str(body.get("action") or "")
    if action not in ("add", "remove", "unsubscribe"):
        raise ValidationError(_("action must be one of: add, remove, unsubscribe."))
    apply_bulk(_ids_for_query(body), action, body.get("target_list_ids") or [], body.get("status"), api_consent())
    return jsonify(data=True)


@bp.put("/subscribers/blocklist")
@require(Permission.SUBSCRIBERS_WRITE)
def put_blocklist() -> Any:
    """Blocklist subscribers.
    ---
    put:
      tags: [subscribers]
      summary: Blocklist subscribers and unsubscribe them from every list.
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [ids], properties: {ids: {type: array, items: {type: integer}}}}
      responses:
        200: {description: Done.}
        400: {$ref: '#/components/responses/Error'}
    """
    blocklist(subscribers_by_id(json_body().get("ids") or []), api_consent())
    return jsonify(data=True)


@bp.put("/subscribers/<int:subscriber_id>/blocklist")
@require(Permission.SUBSCRIBERS_WRITE)
def put_blocklist_one(subscriber_id: int) -> Any:
    """Blocklist one subscriber.
    ---
    put:
      tags: [subscribers]
      summary: Blocklist a subscriber and unsubscribe it from every list.
      parameters: [{in: path, name: subscriber_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: Done.}
        400: {$ref: '#/components/responses/Error'}
    """
    blocklist([get_subscriber(subscriber_id)], api_consent())
    return jsonify(data=True)
