"""listmonk's transactional API: POST /api/tx."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from core.auth import Permission, require
from core.inputs import json_body, json_object
from mailer.tx import send_tx

bp = Blueprint("tx_api", __name__, url_prefix="/api")


@bp.post("/tx")
@require(Permission.TX_SEND)
def post_tx() -> Any:
    """Send a transactional message.
    ---
    post:
      tags: [transactional]
      summary: Send a transactional template to subscribers or addresses, one message each, before any campaign mail.
      description: >
        Recipients by `subscriber_mode`: `default` (subscribers named by `subscriber_emails` or
        `subscriber_ids`), `fallback` (an address that is no subscriber is sent to as given),
        `external` (addresses are not looked up). Suppressed addresses and domains and blocklisted
        subscribers are never mailed: as listmonk does with unknown subscribers, the others are
        sent and the answer is 400 naming each one skipped. With attachments, post
        multipart/form-data: the request's JSON in the field `data`, each file in a field `file`
        (at most 10 MB in all).
      requestBody:
        required: true
        content:
          application/json: {schema: {$ref: '#/components/schemas/TxMessage'}}
          multipart/form-data:
            schema:
              type: object
              required: [data]
              properties:
                data: {type: string, description: The TxMessage as JSON.}
                file: {type: array, items: {type: string, format: binary}}
      responses:
        200: {description: 'Queued for every recipient: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
    """
    if request.mimetype == "multipart/form-data":
        payload = json_object(request.form.get("data") or "", "data")
        files = request.files.getlist("file")
    else:
        payload, files = json_body(), []
    skipped = send_tx(payload, files)
    if skipped:
        return jsonify(message="; ".join(skipped)), 400
    return jsonify(data=True)


TX_MESSAGE = {
    "type": "object", "required": ["template_id"],
    "properties": {
        "template_id": {"type": "integer", "description": "A template of type tx."},
        "subscriber_mode": {"type": "string", "enum": ["default", "fallback", "external"], "default": "default"},
        "subscriber_emails": {"type": "array", "items": {"type": "string"}},
        "subscriber_ids": {"type": "array", "items": {"type": "integer"}, "description": "default mode only."},
        "subscriber_email": {"type": "string", "description": "One address (listmonk's older field)."},
        "subscriber_id": {"type": "integer", "description": "One subscriber (listmonk's older field)."},
        "data": {"type": "object", "description": "Seen by the template as {{ tx.data.… }} (listmonk: .Tx.Data)."},
        "headers": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"}},
                    "description": 'Extra headers: [{"Reply-To": "…"}, {"X-Order": "…"}].'},
        "from_email": {"type": "string", "description": "“Name <address>”; the configured sender when left out."},
        "subject": {"type": "string", "description": "Instead of the template's subject (a template too)."},
        "altbody": {"type": "string", "description": "The plain-text part, instead of one derived from the HTML."},
        "content_type": {"type": "string", "enum": ["html", "markdown", "plain"], "default": "html",
                         "description": "How the template's body is written; mail always has an HTML and a text part."},
        "messenger": {"type": "string", "enum": ["email"]},
    },
}
