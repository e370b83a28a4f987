"""Kairan's segments API (an addition beside listmonk's routes)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from core.auth import Permission, require
from core.inputs import json_body
from lists.segment_rules import count
from lists.segments import all_segments, delete_segment, get_segment, rules_from, save_segment, segment_as_dict

bp = Blueprint("segments_api", __name__, url_prefix="/api/segments")


@bp.get("")
@require(Permission.SUBSCRIBERS_READ)
def get_segments() -> Any:
    """List segments with their subscriber counts.
    ---
    get:
      tags: [segments]
      summary: Every segment, by name, with how many subscribers it selects now.
      responses:
        200: {description: The segments.}
    """
    return jsonify(data=[segment_as_dict(s, with_count=True) for s in all_segments()])


@bp.get("/<int:segment_id>")
@require(Permission.SUBSCRIBERS_READ)
def get_one(segment_id: int) -> Any:
    """Return one segment.
    ---
    get:
      tags: [segments]
      summary: A segment with its rules and count.
      parameters: [{in: path, name: segment_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The segment.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=segment_as_dict(get_segment(segment_id), with_count=True))


@bp.post("")
@require(Permission.SUBSCRIBERS_WRITE)
def post_segment() -> Any:
    """Create a segment.
    ---
    post:
      tags: [segments]
      summary: Create a segment from rules (JSON) or an expression.
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/SegmentInput'}}}
      responses:
        200: {description: The segment.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=segment_as_dict(save_segment(None, json_body()), with_count=True))


@bp.put("/<int:segment_id>")
@require(Permission.SUBSCRIBERS_WRITE)
def put_segment(segment_id: int) -> Any:
    """Change a segment.
    ---
    put:
      tags: [segments]
      summary: Replace a segment's name, description and rules.
      parameters: [{in: path, name: segment_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/SegmentInput'}}}
      responses:
        200: {description: The segment.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=segment_as_dict(save_segment(get_segment(segment_id), json_body()), with_count=True))


@bp.delete("/<int:segment_id>")
@require(Permission.SUBSCRIBERS_WRITE)
def delete_one(segment_id: int) -> Any:
    """Delete a segment.
    ---
    delete:
      tags: [segments]
      summary: Delete a segment; subscribers are untouched.
      parameters: [{in: path, name: segment_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: Deleted.}
        400: {$ref: '#/components/responses/Error'}
    """
    delete_segment(get_segment(segment_id))
    return jsonify(data=True)


@bp.post("/count")
@require(Permission.SUBSCRIBERS_READ)
def count_rules() -> Any:
    """Count what rules select, without saving them (the editor's live count).
    ---
    post:
      tags: [segments]
      summary: How many subscribers these rules (or this expression) select now.
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/SegmentInput'}}}
      responses:
        200: {description: '{"data": {"count": N}}'}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data={"count": count(rules_from(json_body()))})
