"""listmonk-compatible API routes for lists."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from core.api import paginate
from core.auth import Permission, require
from lists.services import list_as_dict, lists_query

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
