"""Kairan's suppression list API (an addition beside listmonk's routes)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user

from core.api import paginate
from core.auth import Permission, require
from core.inputs import json_body
from lists.suppressions import add_suppression, remove_suppression, suppression_as_dict, suppressions_query

bp = Blueprint("suppressions_api", __name__, url_prefix="/api/suppressions")


@bp.get("")
@require(Permission.SUBSCRIBERS_READ)
def get_suppressions() -> Any:
    """List suppressed addresses and domains.
    ---
    get:
      tags: [suppressions]
      summary: Addresses and domains that are never mailed, newest first, paged.
      parameters:
        - {in: query, name: search, schema: {type: string}}
        - page  # listmonk's, in core.api
        - per_page  # listmonk's, in core.api
      responses:
        200:
          description: A page of suppressions.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/Page'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=paginate(suppressions_query(request.args.get("search", "")),
                                 lambda rows: [suppression_as_dict(r) for r in rows]))


@bp.post("")
@require(Permission.SUBSCRIBERS_WRITE)
def post_suppression() -> Any:
    """Suppress an address or a whole domain.
    ---
    post:
      tags: [suppressions]
      summary: Suppress an address (a@example.jp) or a domain (example.jp).
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [value]
              properties:
                value: {type: string}
                reason: {type: string, enum: [unsubscribed, hard_bounce, complaint, manual], default: manual}
      responses:
        200: {description: The suppression.}
        400: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    body = json_body()
    suppression = add_suppression(str(body.get("value") or ""), str(body.get("reason") or ""),
                                  f"API user {current_user.username}")
    return jsonify(data=suppression_as_dict(suppression))


@bp.delete("/<int:suppression_id>")
@require(Permission.SUBSCRIBERS_WRITE)
def delete_suppression(suppression_id: int) -> Any:
    """Lift a suppression.
    ---
    delete:
      tags: [suppressions]
      summary: Lift a suppression; the address may be mailed again.
      parameters: [{in: path, name: suppression_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: Lifted.}
        400: {$ref: '#/components/responses/Error'}
    """
    remove_suppression(suppression_id)
    return jsonify(data=True)
