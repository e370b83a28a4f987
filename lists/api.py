"""listmonk-compatible API routes for lists."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from core.api import paginate
from core.auth import Permission, require
from core.db import db
from core.errors import ValidationError
from core.inputs import flag_arg, id_args, json_body
from lists.services import (
    create_list,
    delete_lists,
    get_list,
    list_as_dict,
    lists_as_dicts,
    lists_by_name,
    lists_query,
    update_list,
)

bp = Blueprint("lists_api", __name__, url_prefix="/api")

@bp.get("/lists")
@require(Permission.LISTS_READ)
def get_lists() -> Any:
    """List mailing lists, paged as listmonk pages them.
    ---
    get:
      tags: [lists]
      summary: Mailing lists with subscriber counts, paged.
      parameters:
        - {in: query, name: query, schema: {type: string}, description: Search in names and descriptions.}
        - {in: query, name: tag, schema: {type: array, items: {type: string}}, description: Lists with all these tags.}
        - {in: query, name: order_by, schema: {type: string, enum: [id, name, created_at, updated_at]}}
        - order  # listmonk's, in core.api
        - {in: query, name: minimal, schema: {type: boolean}, description: "Every list, unpaged, as a bare array."}
        - page  # listmonk's, in core.api
        - per_page  # listmonk's, in core.api
      responses:
        200:
          description: A page of lists (or, with minimal, an array of all lists).
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    oneOf:
                      - {$ref: '#/components/schemas/Page'}
                      - {type: array, items: {type: object}, description: With minimal=true.}
        400: {$ref: '#/components/responses/Error'}
        403: {description: "Missing or invalid credentials, or no permission."}
    """
    stmt = lists_query(
        query=request.args.get("query", ""),
        order_by=request.args.get("order_by", "id"),
        descending=request.args.get("order", "asc").lower() == "desc",
        tags=request.args.getlist("tag"),
    )
    if flag_arg("minimal"):
        return jsonify(data=lists_as_dicts(list(db.session.scalars(stmt))))
    return jsonify(data=paginate(stmt, lists_as_dicts))


@bp.get("/lists/<int:list_id>")
@require(Permission.LISTS_READ)
def get_one(list_id: int) -> Any:
    """Return one list.
    ---
    get:
      tags: [lists]
      summary: One list with its subscriber counts.
      parameters: [{in: path, name: list_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The list.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=list_as_dict(get_list(list_id)))


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
            schema: {$ref: '#/components/schemas/ListInput'}
      responses:
        200: {description: The new list.}
        400: {$ref: '#/components/responses/Error'}
        403: {description: "Missing or invalid credentials, or no permission."}
    """
    return jsonify(data=list_as_dict(create_list(json_body())))


@bp.put("/lists/<int:list_id>")
@require(Permission.LISTS_WRITE)
def put_list(list_id: int) -> Any:
    """Change a list.
    ---
    put:
      tags: [lists]
      summary: Change the fields given of a list.
      parameters: [{in: path, name: list_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ListInput'}
      responses:
        200: {description: The changed list.}
        400: {$ref: '#/components/responses/Error'}
    """
    mailing_list = get_list(list_id)
    update_list(mailing_list, json_body())
    return jsonify(data=list_as_dict(mailing_list))


@bp.delete("/lists/<int:list_id>")
@require(Permission.LISTS_WRITE)
def delete_one(list_id: int) -> Any:
    """Delete a list.
    ---
    delete:
      tags: [lists]
      summary: Delete a list; its subscriptions go, its subscribers stay.
      parameters: [{in: path, name: list_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: Deleted.}
        400: {$ref: '#/components/responses/Error'}
    """
    get_list(list_id)
    delete_lists([list_id])
    return jsonify(data=True)


@bp.delete("/lists")
@require(Permission.LISTS_WRITE)
def delete_many() -> Any:
    """Delete several lists.
    ---
    delete:
      tags: [lists]
      summary: Delete the lists given by repeated id parameters, or (as listmonk) those a name search finds.
      parameters:
        - {in: query, name: id, schema: {type: array, items: {type: integer}}}
        - {in: query, name: query, schema: {type: string}, description: Lists whose names contain this (no ids).}
        - {in: query, name: all, schema: {type: boolean}, description: "Every list (no ids, no query)."}
      responses:
        200: {description: Deleted.}
        400: {$ref: '#/components/responses/Error'}
    """
    ids = id_args("id")
    query = request.args.get("query", "").strip()
    if not ids and (query or flag_arg("all")):
        ids = list(db.session.scalars(lists_by_name(query)))
    elif not ids:
        raise ValidationError(_("Give the lists to delete as id parameters."))
    delete_lists(ids)
    return jsonify(data=True)
