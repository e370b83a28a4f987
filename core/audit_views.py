"""The audit log's page (filters, paging, CSV download) and ``GET /api/audit``: admins only."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core import audit
from core.api import paginate
from core.auth import Permission, require
from core.batches import batched
from core.db import db
from core.errors import ValidationError
from core.inputs import INT64_MAX, id_or_none, moment, refuse_nul
from core.refusals import showing_refusal
from core.safecsv import CHARSETS, chosen_encoding, csv_stream

bp = Blueprint("audit", __name__, url_prefix="/audit")
api_bp = Blueprint("audit_api", __name__, url_prefix="/api/audit")
PER_PAGE = 50
_ACTION = re.compile(r"[a-z_]{1,40}(\.[a-z_]{1,40})?")
_KIND = re.compile(r"[a-z_]{1,40}")
MAX_TEXT = 100
CSV_BATCH = 1000  # entries per chunk of the download


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
        # Named as the page's filters are labelled: the reader sees those, not the query's parameters.
        message = _('"%(start)s" must not be later than "%(end)s".', start=_("From day"), end=_("To day"))
        raise ValidationError(message, field="from")
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


Names = dict[tuple[type, Any], str]  # rows' names by their model and id, read once for a page


def _ids(value: Any) -> list[Any]:
    """The ids a field holds (one or a list); anything else is shown as kept, never sent to the database."""
    return [item for item in (value if isinstance(value, list) else [value])
            if isinstance(item, int) and not isinstance(item, bool) and 0 < item <= INT64_MAX]


def names_for(entries: Iterable[audit.AuditEntry]) -> Names:
    """The names of the rows the entries' id fields point to: one query per kind of row, whatever the count."""
    wanted: dict[audit.Reference, set[Any]] = {}
    for entry in entries:
        for values in (entry.before or {}, entry.after or {}):
            for name, value in values.items():
                ref = audit.reference(entry.target_type, name)
                if ref is not None:
                    wanted.setdefault(ref, set()).update(_ids(value))
    names: Names = {}
    for ref, ids in wanted.items():
        column = getattr(ref.model, ref.label)
        rows = db.session.execute(select(ref.model.id, column).where(ref.model.id.in_(ids)))  # type: ignore[attr-defined]
        names.update({(ref.model, row_id): str(label) for row_id, label in rows})
    return names


def told(kind: str | None, name: str, value: Any, names: Names) -> str:
    """A field's value in words: a row's name for its id (#id when gone), a label where the package gave one."""
    ref = audit.reference(kind, name)
    if ref is not None and value not in (None, "", []):
        items = value if isinstance(value, list) else [value]
        return ", ".join(names.get((ref.model, item), f"#{item}") for item in items)
    reader = audit.value_reader(kind, name)
    if reader is not None and value is not None and value != "" and not isinstance(value, bool):
        return ", ".join(reader(item) for item in value) if isinstance(value, list) else reader(value)
    return shown(value)


class Change(NamedTuple):
    """One field of an entry as the page shows it: its name and what happened to it."""

    name: str
    text: str


def changes(entry: audit.AuditEntry, names: Names | None = None) -> list[Change]:
    """The fields an entry holds, each told in words. A body (kept only as set or not) or a masked secret that
    changed says "changed": its values before and after read the same."""
    before, after = entry.before, entry.after
    opaque = audit.opaque_fields(entry.target_type)
    fields = audit.in_field_order(entry.target_type, [*(before or {}),
                                                      *(name for name in after or {} if name not in (before or {}))])
    result = []
    for name in fields:
        old, new = (before or {}).get(name), (after or {}).get(name)
        if name in opaque:
            old_text, new_text = (_("set") if old else _("(empty)")), (_("set") if new else _("(empty)"))
        else:
            old_text = told(entry.target_type, name, old, names or {})
            new_text = told(entry.target_type, name, new, names or {})
        if before is not None and after is not None:
            text = _("changed") if name in opaque or old == new else f"{old_text} → {new_text}"
        elif after is not None:
            text = new_text
        else:
            deleted = _("(deleted)")
            text = f"{old_text} → {deleted}"
        result.append(Change(audit.field_title(entry.target_type, name), text))
    return result


@bp.get("/")
@require(Permission.AUDIT_READ)
def index() -> Any:
    """List the audit log, filtered, newest first."""
    # A bad filter: say so, keep what was typed to correct it, and list nothing (an unfiltered list would look
    # filtered).
    with showing_refusal() as attempt:
        filters = filters_from_request()
    page = id_or_none(request.args.get("page"), INT64_MAX) or 1
    entries: list[audit.AuditEntry] = []
    total = 0
    if not attempt.refused:
        stmt = audit.query(filters)
        total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        entries = list(db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    args = {name: request.args.get(name, "") for name in ("actor", "action", "object", "object_id", "from", "to")}
    names = names_for(entries)
    page_html = render_template("core/audit.html", entries=entries, total=total, page=page, per_page=PER_PAGE,
                                args=args, error=attempt.error, actors=_actors(), kinds=audit.kinds(),
                                actions=_action_choices(), action_title=audit.action_title,
                                actor_label=actor_label, changes=lambda entry: changes(entry, names))
    return page_html, 400 if attempt.refused else 200


def _action_choices() -> dict[str, str]:
    """The action filter's choices: every action named, and every one recorded, in words, sorted by them."""
    recorded = db.session.scalars(select(audit.AuditEntry.action).distinct())
    choices = {**audit.actions(), **{action: audit.action_title(action) for action in recorded}}
    return dict(sorted(choices.items(), key=lambda pair: pair[1]))


PAGE_COLUMNS = (_l("When"), _l("Who"), _l("From address"), _l("Action"), _l("Action code"), _l("Object"),
                _l("Object id"), _l("Object name"), _l("Before → after"), _l("Entry"), _l("Hash"))


def local_time(at: datetime) -> str:
    """An entry's time in KAIRAN_TIMEZONE as Excel reads it (2026-11-05 09:30:00), as the other exports write it."""
    zone = ZoneInfo(current_app.config["KAIRAN"].timezone)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def page_rows(filters: audit.Filters) -> Iterator[list[list[Any]]]:
    """The matching entries as the page tells them, in batches: times in KAIRAN_TIMEZONE, actions and changes
    in words (one line per field), rows named for the ids."""
    kinds = audit.kinds()
    entries = db.session.scalars(audit.query(filters).execution_options(yield_per=CSV_BATCH))
    for batch in batched(entries, CSV_BATCH):
        names = names_for(batch)
        yield [[local_time(entry.at),
                actor_label(entry.actor, entry.actor_kind, entry.actor_id), entry.address or "",
                audit.action_title(entry.action), entry.action,
                kinds.get(entry.target_type, entry.target_type) if entry.target_type else "",
                entry.target_id or "", entry.target or "",
                "\n".join(f"{change.name}: {change.text}" for change in changes(entry, names)),
                entry.id, entry.hash] for entry in batch]


def _download(filters: audit.Filters, encoding: str, *, for_people: bool = False) -> Response:
    # The download is itself audited, in its own commit before the file streams; the encoding even when implied.
    audit.record("audit.exported", audit.Target("audit"), None, {
        **{name: value for name, value in request.args.items() if value}, "encoding": encoding})
    db.session.commit()
    if for_people:
        chunks = csv_stream([str(title) for title in PAGE_COLUMNS], page_rows(filters), encoding)
    else:
        chunks = csv_stream(audit.CSV_COLUMNS, batched(audit.csv_rows(filters), CSV_BATCH), encoding)
    response = Response(stream_with_context(chunks), content_type=f"text/csv; charset={CHARSETS[encoding]}")
    response.headers["Content-Disposition"] = f"attachment; filename=audit-log-{encoding}.csv"
    return response


@bp.get("/audit-log.csv")
@require(Permission.AUDIT_READ)
def download() -> Any:
    """Download the filtered log as CSV (UTF-8 with a BOM, or CP932), told as the page tells it."""
    return _download(filters_from_request(), chosen_encoding(request.args), for_people=True)


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
        return _download(filters, chosen_encoding(request.args))
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
