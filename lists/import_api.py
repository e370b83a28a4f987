"""listmonk-compatible API routes for CSV import."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from core.auth import Permission, require
from core.db import db
from core.errors import KairanError, ValidationError
from core.inputs import json_object
from core.safecsv import SafeWriter
from lists.import_job import start
from lists.imports import cancel, configure, first_errors, latest_import, upload
from lists.models import Import, ImportStatus

bp = Blueprint("import_api", __name__, url_prefix="/api/import/subscribers")
LOG_ERRORS = 1000  # bad rows written into the log

# listmonk's import states, from Kairan's.
LISTMONK_STATUS = {
    ImportStatus.PENDING: "none", ImportStatus.QUEUED: "importing", ImportStatus.IMPORTING: "importing",
    ImportStatus.FINISHED: "finished", ImportStatus.FAILED: "failed", ImportStatus.CANCELLED: "stopped",
}


def _status(imp: Import | None) -> dict[str, Any]:
    if imp is None:
        return {"name": "", "total": 0, "imported": 0, "status": "none"}
    return {"name": imp.file_name, "total": imp.total, "imported": imp.imported,
            "status": LISTMONK_STATUS[imp.status]}


@bp.post("")
@require(Permission.SUBSCRIBERS_WRITE)
def post_import() -> Any:
    """Start an import of a CSV file.
    ---
    post:
      tags: [import]
      summary: Upload a CSV (columns email, name, attributes as listmonk's) and start importing it.
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [params, file]
              properties:
                params:
                  type: string
                  description: >
                    JSON: mode (subscribe, blocklist, unsubscribe), subscription_status, delim, lists
                    (ids), overwrite.
                file: {type: string, format: binary}
      responses:
        200: {description: 'The import: {"name", "total", "imported", "status"}.'}
        400: {$ref: '#/components/responses/Error'}
    """
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ValidationError(_("Send the CSV as the multipart field file."))
    params = json_object(request.form.get("params") or "{}", "params")
    imp = upload(file.stream, file.filename, current_user.username)
    try:
        configure(imp, {
            "delimiter": params.get("delim") or None, "mode": params.get("mode"),
            "subscription_status": params.get("subscription_status"), "lists": params.get("lists") or [],
            "overwrite": params.get("overwrite", False),
        })
        start(imp, str(get_locale() or "en"))
    except KairanError:
        # The caller is told why; nobody will come back to this upload (personal data), so it goes now.
        db.session.rollback()
        db.session.delete(imp)  # its file goes with it
        db.session.commit()
        raise
    return jsonify(data=_status(imp))


@bp.get("")
@require(Permission.SUBSCRIBERS_READ)
def get_import_status() -> Any:
    """Report the latest import.
    ---
    get:
      tags: [import]
      summary: The latest import's name, total, imported and status (none, importing, stopped, finished, failed).
      responses:
        200: {description: The import's state.}
    """
    return jsonify(data=_status(latest_import()))


@bp.get("/logs")
@require(Permission.SUBSCRIBERS_READ)
def get_import_logs() -> Any:
    """Return the latest import's log.
    ---
    get:
      tags: [import]
      summary: A text log of the latest import, with its bad rows and their line numbers.
      responses:
        200: {description: The log as a string in data.}
    """
    imp = latest_import()
    if imp is None:
        return jsonify(data="")
    lines = [f"{imp.file_name}: {imp.status.value}, {imp.done} of {imp.total} rows read, "
             f"{imp.imported} imported, {imp.failed} bad"]
    if imp.error:
        lines.append(imp.error)
    buffer = io.StringIO()
    SafeWriter(buffer, lineterminator="\n").writerows(first_errors(imp, LOG_ERRORS))  # line,reason,row as in the file
    lines += buffer.getvalue().splitlines()
    return jsonify(data="\n".join(lines))


@bp.delete("")
@require(Permission.SUBSCRIBERS_WRITE)
def delete_import() -> Any:
    """Stop the running import.
    ---
    delete:
      tags: [import]
      summary: Stop the running import after its current batch (rows written so far stay).
      responses:
        200: {description: The import's state.}
    """
    imp = latest_import()
    if imp is not None:
        cancel(imp)
    return jsonify(data=_status(imp))
