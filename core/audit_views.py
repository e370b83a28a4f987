"""The audit log's page (filters, paging, CSV download) and ``GET /api/audit``: admins only."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask_babel import gettext as _
from sqlalchemy import func, select

from core import audit
from core.api import paginate
from core.auth import Permission, require
from core.db import db
from core.errors import ValidationError
from core.inputs import INT64_MAX, id_or_none, moment, refuse_nul
from core.refusals import showing_refusal
from core.safecsv import SafeWriter

bp = Blueprint("audit", __name__, url_prefix="/audit")
api_bp = Blueprint("audit_api", __name__, url_prefix="/api/audit")
PER_PAGE = 50
_ACTION = re.compile(r"[a-z_]{1,40}(\.[a-z_]{1,40})?")
_KIND = re.compile(r"[a-z_]{1,40}")
MAX_TEXT = 100


def _text(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    refuse_nul(value)
    if len(value) > MAX_TEXT:
        raise ValidationError(_("%(name)s is at most %(n)d characters.", name=name, n=MAX_TEXT), field=name)
    return value or None


def _day_or_moment(name: str, *, end: bool) -> datetime | None:
    """A ``from``/``to`` filter: a date (a whole day in KAIRAN_TIMEZONE, ``to`` included) or a time with offset."""
    value = _text(name)
    if value is None:
        return None
    if len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValidationError(_("%(name)s must be a date (2026-05-01) or a time with its offset "
                                    "(2026-05-01T09:00:00+09:00).", name=name), field=name) from None
        zone = ZoneInfo(current_app.config["KAIRAN"].timezone)
        return datetime.combine(day + timedelta(days=1) if end else day, time(), zone)
    try:
        return moment(value, name)
    except ValidationError:
        raise ValidationError(_("%(name)s must be a date (2026-05-01) or a time with its offset "
                                "(2026-05-01T09:00:00+09:00).", name=name), field=name) from None


def filters_from_request() -> audit.Filters:
    """Read the filters (actor, action, object, object_id, from, to) from the query, refusing bad ones clearly."""
    action = _text("action")
    if action is not None and not _ACTION.fullmatch(action):
        raise ValidationError(_("action must be an action such as campaign.paused, or an object such as "
                                "campaign."), field="action")
    kind = _text("object")
    if kind is not None and not _KIND.fullmatch(kind):
        raise ValidationError(_("object must be a kind of object such as campaign, list or user."), field="object")
    since, until = _day_or_moment("from", end=False), _day_or_moment("to", end=True)
    if since and until and since >= until:
        raise ValidationError(_("from must be before to."), field="from")
    return audit.Filters(actor=_text("actor"), action=action, target_type=kind, target_id=_text("object_id"),
                         since=since, until=until)


def _actors() -> list[str]:
    return list(db.session.scalars(select(audit.AuditEntry.actor).distinct().order_by(audit.AuditEntry.actor)))


@bp.get("/")
@require(Permission.AUDIT_READ)
def index() -> Any:
    """List the audit log, filtered, newest first."""
    with showing_refusal() as attempt:  # a bad filter typed in the address bar: say so, show everything
        filters = filters_from_request()
    if attempt.refused:
        filters = audit.Filters()
    page = id_or_none(request.args.get("page"), INT64_MAX) or 1
    stmt = audit.query(filters)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    entries = list(db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    args = {name: request.args.get(name, "") for name in ("actor", "action", "object", "object_id", "from", "to")}
    page_html = render_template("core/audit.html", entries=entries, total=total, page=page, per_page=PER_PAGE,
                                args={} if attempt.refused else args, actors=_actors())
    return page_html, 400 if attempt.refused else 200


def _csv_chunks(filters: audit.Filters) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    writer.writerow(audit.CSV_COLUMNS)
    for number, row in enumerate(audit.csv_rows(filters), 1):
        writer.writerow(row)
        if number % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _download(filters: audit.Filters) -> Response:
    # The download is itself audited, in its own commit before the file streams.
    audit.record("audit.exported", audit.Target("audit"), None, {
        name: value for name, value in request.args.items() if value})
    db.session.commit()
    response = Response(stream_with_context(_csv_chunks(filters)), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = "attachment; filename=audit-log.csv"
    return response


@bp.get("/audit-log.csv")
@require(Permission.AUDIT_READ)
def download() -> Any:
    """Download the filtered log as CSV (UTF-8)."""
    return _download(filters_from_request())


@api_bp.get("")
@require(Permission.AUDIT_READ)
def api_list() -> Any:
    """List audit entries.
    ---
    get:
      tags: [audit]
      summary: The audit log, newest first, filtered and paged; admins only.
      parameters:
        - {in: query, name: actor, schema: {type: string, maxLength: 100}, description: "A username, system or job:…"}
        - {in: query, name: action, schema: {type: string, maxLength: 81},
           description: "An action (campaign.paused) or an object's kind (campaign: all its actions)."}
        - {in: query, name: object, schema: {type: string, maxLength: 40}, description: "The object's kind."}
        - {in: query, name: object_id, schema: {type: string, maxLength: 100}}
        - {in: query, name: from, schema: {type: string},
           description: "A date (its whole day in KAIRAN_TIMEZONE) or a time with its offset."}
        - {in: query, name: to, schema: {type: string}, description: "As from; a date includes its whole day."}
        - {in: query, name: format, schema: {type: string, enum: [json, csv]}, description: "csv: a CSV download."}
        - page  # listmonk's, in core.api
        - per_page
      responses:
        200:
          description: A page of entries (or the CSV file).
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    allOf:
                      - $ref: '#/components/schemas/Page'
                      - type: object
                        properties: {results: {type: array, items: {$ref: '#/components/schemas/AuditEntry'}}}
            text/csv:
              schema: {type: string}
        400: {$ref: '#/components/responses/Error'}
        403: {$ref: '#/components/responses/Error'}
    """
    filters = filters_from_request()
    fmt = request.args.get("format", "json")
    if fmt == "csv":
        return _download(filters)
    if fmt != "json":
        raise ValidationError(_("format must be json or csv."), field="format")
    return {"data": paginate(audit.query(filters), lambda rows: [audit.serialize(row) for row in rows])}


AUDIT_ENTRY_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"},
        "actor_kind": {"type": "string", "enum": ["user", "api", "system", "job"]},
        "actor_id": {"type": "integer", "nullable": True}, "address": {"type": "string", "nullable": True},
        "action": {"type": "string"}, "target_type": {"type": "string", "nullable": True},
        "target_id": {"type": "string", "nullable": True}, "target": {"type": "string", "nullable": True},
        "before": {"type": "object", "nullable": True}, "after": {"type": "object", "nullable": True},
        "hash": {"type": "string"},
    },
}
