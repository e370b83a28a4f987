"""listmonk's templates API: layouts and transactional templates, their default, previews."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from core.auth import Permission, require
from core.inputs import body_fields, flag_arg, json_body
from core.validation import choice
from mailer.layouts import (
    all_templates,
    delete_template,
    get_template,
    preview_layout,
    save_template,
    set_default,
    template_as_dict,
)
from mailer.models import TemplateType
from mailer.views import preview_response

bp = Blueprint("template_api", __name__, url_prefix="/api")


@bp.get("/templates")
@require(Permission.TEMPLATES_READ)
def get_templates() -> Any:
    """List templates.
    ---
    get:
      tags: [templates]
      summary: Every template, the default first (`no_body=true` leaves bodies out).
      parameters: [{in: query, name: no_body, schema: {type: boolean}}]
      responses:
        200: {description: The templates.}
    """
    rows = [template_as_dict(t) for t in all_templates(request.args.get("type"))]
    if flag_arg("no_body"):
        rows = [{**row, "body": ""} for row in rows]
    return jsonify(data=rows)


@bp.get("/templates/<int:template_id>")
@require(Permission.TEMPLATES_READ)
def get_one_template(template_id: int) -> Any:
    """Return a template.
    ---
    get:
      tags: [templates]
      summary: One template.
      parameters: [{in: path, name: template_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The template.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=template_as_dict(get_template(template_id)))


@bp.post("/templates")
@require(Permission.TEMPLATES_WRITE)
def post_template() -> Any:
    """Create a template.
    ---
    post:
      tags: [templates]
      summary: Create a layout (Jinja or listmonk syntax); errors name their line.
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/TemplateInput'}}}
      responses:
        200: {description: "The template, with `warnings` about unknown variables."}
        400: {$ref: '#/components/responses/Error'}
    """
    template, warnings = save_template(None, json_body())
    return jsonify(data=template_as_dict(template, warnings))


@bp.put("/templates/<int:template_id>")
@require(Permission.TEMPLATES_WRITE)
def put_template(template_id: int) -> Any:
    """Change a template.
    ---
    put:
      tags: [templates]
      summary: Replace a template's name, type, subject and body.
      parameters: [{in: path, name: template_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/TemplateInput'}}}
      responses:
        200: {description: The template.}
        400: {$ref: '#/components/responses/Error'}
    """
    template, warnings = save_template(get_template(template_id), json_body())
    return jsonify(data=template_as_dict(template, warnings))


@bp.put("/templates/<int:template_id>/default")
@require(Permission.TEMPLATES_WRITE)
def put_default(template_id: int) -> Any:
    """Make a template the default.
    ---
    put:
      tags: [templates]
      summary: Make a campaign layout the default for new campaigns.
      parameters: [{in: path, name: template_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The template.}
        400: {$ref: '#/components/responses/Error'}
    """
    template = get_template(template_id)
    set_default(template)
    return jsonify(data=template_as_dict(template))


@bp.delete("/templates/<int:template_id>")
@require(Permission.TEMPLATES_WRITE)
def delete_one_template(template_id: int) -> Any:
    """Delete a template.
    ---
    delete:
      tags: [templates]
      summary: Delete a template that is neither the default nor used by a campaign.
      parameters: [{in: path, name: template_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: 'Done: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
    """
    delete_template(get_template(template_id))
    return jsonify(data=True)


@bp.post("/templates/preview")
@require(Permission.TEMPLATES_READ)
def preview_new_template() -> Any:
    """Preview a template body that is not saved.
    ---
    post:
      tags: [templates]
      summary: Render a layout (form or JSON field `body`, optional `template_type`) around a sample body.
      responses:
        200: {description: "The HTML, served in a sandbox.", content: {text/html: {schema: {type: string}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    data = body_fields()
    kind = choice(TemplateType, data.get("template_type") or data.get("type"), "type", TemplateType.CAMPAIGN)
    return preview_response(preview_layout(str(data.get("body") or ""), kind))


@bp.route("/templates/<int:template_id>/preview", methods=["GET", "POST"])
@require(Permission.TEMPLATES_READ)
def preview_template(template_id: int) -> Any:
    """Preview a saved template.
    ---
    get:
      tags: [templates]
      summary: Render a saved layout around a sample body.
      parameters: [{in: path, name: template_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The HTML., content: {text/html: {schema: {type: string}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    template = get_template(template_id)
    return preview_response(preview_layout(template.body, template.type))


TEMPLATE_INPUT = {
    "type": "object", "required": ["name", "body"],
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "type": {"type": "string", "enum": ["campaign", "tx"]},
        "subject": {"type": "string", "description": "Transactional templates only."},
        "body": {"type": "string", "description": "Jinja or listmonk syntax; a campaign layout needs "
                 "{{ content }}, {{ unsubscribe_url }} and the sender's details."},
    },
}
