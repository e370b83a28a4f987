"""listmonk-compatible API routes for lists."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from core.api import paginate
from core.auth import Permission, require
from core.errors import ValidationError
from lists.services import create_list, list_as_dict, lists_query

bp = Blueprint("lists_api", __name__, url_prefix="/api")


@bp.get("/lists")
@require(Permission.LISTS_READ)
def get_lists() -> Any:
    """List mailing lists, paged as listmonk pages them.
    ---
    get:
      tags: [lists]
      summary: Mailing lists, paged.
      parameters:
        - {in: query, name: query, schema: {type: string}, description: Search in names and descriptions.}
        - {in: query, name: order_by, schema: {type: string, enum: [id, name, created_at, updated_at]}}
        - {in: query, name: order, schema: {type: string, enum: [asc, desc]}}
        - {in: query, name: page, schema: {type: integer, minimum: 1}}
        - {in: query, name: per_page, schema: {type: string}, description: A number, or "all".}
      responses:
        200:
          description: A page of lists.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    type: object
                    properties:
                      results: {type: array, items: {type: object}}
                      query: {type: string}
                      total: {type: integer}
                      per_page: {type: integer}
                      page: {type: integer}
        403:
          description: Missing or invalid credentials, or no permission.
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Error'}
    """
    stmt = lists_query(
        query=request.args.get("query", ""),
        order_by=request.args.get("order_by", "id"),
        descending=request.args.get("order", "asc").lower() == "desc",
    )
    return jsonify(data=paginate(stmt, list_as_dict))


@bp.post("/lists")
@require(Permission.LISTS_WRITE)
def post_list() -> Any:
    """Create a mailing list.
    ---
    post:
      tags: [lists]
      summary: Create a list (listmonk's fields).
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string, maxLength: 200}
                type: {type: string, enum: [public, private], default: private}
                optin: {type: string, enum: [single, double], default: single}
                tags: {type: array, items: {type: string}}
                description: {type: string}
      responses:
        200:
          description: The new list.
        400:
          description: A field is missing or invalid; the message names it.
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Error'}
        403:
          description: Missing or invalid credentials, or no permission.
    """
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ValidationError(_("Send the list as a JSON object."))
    return jsonify(data=list_as_dict(create_list(payload)))
