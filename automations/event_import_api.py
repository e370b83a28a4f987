"""The event import API: POST /api/events/import (a CSV, as lists/import_api.py takes subscribers') and
GET /api/events/import/{id} (its progress and first bad rows)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from automations.event_import import configure, guess_mapping
from automations.event_import_views import event_progress
from core.auth import Permission, require
from core.db import db
from core.errors import KairanError, ValidationError
from core.inputs import json_object
from lists.import_job import start
from lists.imports import first_errors, get_import, upload
from lists.models import Import, ImportKind

bp = Blueprint("event_import_api", __name__, url_prefix="/api/events/import")
ERRORS_LISTED = 100  # bad rows in the status; all of them are in the UI's downloadable file


def _status(imp: Import) -> dict[str, Any]:
    errors = [{"line": int(line), "reason": reason, "row": row}
              for line, reason, row in first_errors(imp, ERRORS_LISTED)]
    return {**event_progress(imp), "errors": errors}


@bp.post("")
@require(Permission.EVENTS_WRITE)
def post_event_import() -> Any:
    """Import customer events from a CSV file.
    ---
    post:
      tags: [events]
      summary: Upload a CSV of events (a shop's order export, UTF-8 or CP932) and start importing it.
      description: >
        Each row becomes an event as POST /api/events takes one, in batches of 1,000: a bad row is kept with
        its line and the API's reason, and the others are stored. Without a mapping, columns are recognised by
        their headers (メールアドレス or email; 注文日時 or occurred_at; 注文番号 or order_id, imported once as
        the event name and the order number; the others are text properties).
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [file]
              properties:
                file: {type: string, format: binary}
                params:
                  type: string
                  description: >
                    JSON: event_name (every row's event, unless a column holds it), create_subscriber (add
                    unknown addresses, on no list), delim, encoding, and mapping, one object per column:
                    {"target": "email" | "name" | "occurred_at" | "key" | "property" | "ignore", "key": the
                    property's name, "type": "text" | "number"}. Times without an offset are in the
                    installation's time zone.
                  example: '{"event_name": "purchase", "create_subscriber": true}'
      responses:
        200:
          description: The import, queued.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/EventImport'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ValidationError(_("Send the CSV as the multipart field file."))
    params = json_object(request.form.get("params") or "{}", "params")
    imp = upload(file.stream, file.filename, current_user.username, ImportKind.EVENTS, guess_mapping)
    try:
        configure(imp, {"delimiter": params.get("delim") or None, "encoding": params.get("encoding") or None,
                        "mapping": params.get("mapping"), "event_name": params.get("event_name"),
                        "create_subscriber": params.get("create_subscriber", False)})
        start(imp, str(get_locale() or "en"))
    except KairanError:
        # The caller is told why; nobody will come back to this upload (personal data), so it goes now.
        db.session.rollback()
        db.session.delete(imp)  # its file goes with it
        db.session.commit()
        raise
    return jsonify(data=_status(imp))


@bp.get("/<int:import_id>")
@require(Permission.EVENTS_WRITE)
def get_event_import(import_id: int) -> Any:
    """Report an event import.
    ---
    get:
      tags: [events]
      summary: An event import's progress, its counts and its first bad rows.
      parameters:
        - {in: path, name: import_id, required: true, schema: {type: integer}}
      responses:
        200:
          description: The import's state.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/EventImport'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=_status(get_import(import_id, ImportKind.EVENTS)))


# The OpenAPI document's schema of an event import (registered in automations/__init__.py).
EVENT_IMPORT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "name": {"type": "string", "description": "The file's name."},
        "status": {"type": "string", "enum": ["pending", "queued", "importing", "finished", "failed", "cancelled"]},
        "total": {"type": "integer", "description": "Rows in the file (an estimate until it has finished)."},
        "done": {"type": "integer", "description": "Rows read."},
        "imported": {"type": "integer", "description": "Events stored."},
        "duplicates": {"type": "integer", "description": "Rows whose idempotency key was stored before."},
        "failed": {"type": "integer", "description": "Bad rows."},
        "percent": {"type": "number"}, "error": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "line": {"type": "integer"}, "reason": {"type": "string"}, "row": {"type": "string"}}}},
    },
}
