"""The audit log's page (filters, paging, CSV download) and ``GET /api/audit``: admins only."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
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
from core.safecsv import CHARSETS, EXPORT_ENCODINGS, csv_stream

bp = Blueprint("audit", __name__, url_prefix="/audit")
api_bp = Blueprint("audit_api", __name__, url_prefix="/api/audit")
PER_PAGE = 50
_ACTION = re.compile(r"[a-z_]{1,40}(\.[a-z_]{1,40})?")
_KIND = re.compile(r"[a-z_]{1,40}")
MAX_TEXT = 100
CSV_BATCH = 1000  # entries per chunk of the download


def batched(rows: Iterable[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    """The rows in lists of ``size`` (itertools.batched is Python 3.12's)."""
    batch: list[list[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


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


def _actors() -> list[tuple[str, str]]:
    """The who filter's choices: every actor recorded, as the rows name them."""
    names = db.session.scalars(select(audit.AuditEntry.actor).distinct().order_by(audit.AuditEntry.actor))
    return [(name, actor_label(name)) for name in names]


def actor_label(name: str, kind: str | None = None, actor_id: int | None = None) -> str:
    """Who acted, as a reader says it: the system, a job as the system's named work, a visitor not logged in,
    else the username. A row gives its kind and actor id too; the who filter knows the names alone."""
    job = audit.job_title(name)
    if job is not None:
        return _("System (%(job)s)", job=job)
    if kind == "system" or (kind is None and name == "system"):
        return _("The system")
    if name == "anonymous" and actor_id is None and kind in (None, "user"):
        return _("Not logged in")
    return name


def shown(value: Any) -> str:
    """A value before or after, as plain text (the page escapes it): text as it is, yes/no, lists joined."""
    if value is None:
        return _("(none)")
    if value in ("", []):
        return _("(empty)")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(shown(item) for item in value)
    return orjson.dumps(value).decode()  # numbers, and objects as JSON


class Change(NamedTuple):
    """One field of an entry as the page shows it: its name and what happened to it."""

    name: str
    text: str


def changes(entry: audit.AuditEntry) -> list[Change]:
    """The fields an entry holds, each told in words. A body (kept only as set or not) or a masked secret that
    changed says "changed": its values before and after read the same."""
    before, after = entry.before, entry.after
    opaque = audit.opaque_fields(entry.target_type)
    names = [*(before or {}), *(name for name in after or {} if name not in (before or {}))]
    told = []
    for name in names:
        old, new = (before or {}).get(name), (after or {}).get(name)
        if name in opaque:
            old_text, new_text = (_("set") if old else _("(empty)")), (_("set") if new else _("(empty)"))
        else:
            old_text, new_text = shown(old), shown(new)
        if before is not None and after is not None:
            text = _("changed") if name in opaque or old == new else f"{old_text} → {new_text}"
        elif after is not None:
            text = new_text
        else:
            deleted = _("(deleted)")
            text = f"{old_text} → {deleted}"
        told.append(Change(audit.field_title(entry.target_type, name), text))
    return told


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
                                args={} if attempt.refused else args, actors=_actors(), kinds=audit.kinds(),
                                actor_label=actor_label, changes=changes)
    return page_html, 400 if attempt.refused else 200


def _encoding() -> str:
    """The CSV's encoding: UTF-8 with a BOM (the default) or CP932 for older Excel, as the other exports offer."""
    encoding = request.args.get("encoding") or "utf-8"
    if encoding not in EXPORT_ENCODINGS:
        raise ValidationError(_("encoding must be utf-8 or cp932 (Shift_JIS for older Excel)."), field="encoding")
    return encoding


def _download(filters: audit.Filters, encoding: str) -> Response:
    # The download is itself audited, in its own commit before the file streams.
    audit.record("audit.exported", audit.Target("audit"), None, {
        name: value for name, value in request.args.items() if value})
    db.session.commit()
    chunks = csv_stream(audit.CSV_COLUMNS, batched(audit.csv_rows(filters), CSV_BATCH), encoding)
    response = Response(stream_with_context(chunks), content_type=f"text/csv; charset={CHARSETS[encoding]}")
    response.headers["Content-Disposition"] = f"attachment; filename=audit-log-{encoding}.csv"
    return response


@bp.get("/audit-log.csv")
@require(Permission.AUDIT_READ)
def download() -> Any:
    """Download the filtered log as CSV (UTF-8 with a BOM, or CP932)."""
    return _download(filters_from_request(), _encoding())


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
        - {in: query, name: encoding, schema: {type: string, enum: [utf-8, cp932], default: utf-8},
           description: 'The CSV''s: UTF-8 with a BOM, or CP932 (Shift_JIS) for older Excel.'}
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
        return _download(filters, _encoding())
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
