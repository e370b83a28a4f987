"""What an exported CSV's columns are called and how their cells read, for people who open it in Excel.

The writer (core/safecsv.py) is the same for every export; this says the rest: the header row in
the reader's language (English keeps the machine names that imports and listmonk read), times in
KAIRAN_TIMEZONE as Excel reads them (no offset, no microseconds), one column per attribute key,
and the response naming the charset of the bytes sent (core/safecsv.py's CHARSETS).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app, request, stream_with_context
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select, true

from core import audit
from core.db import db, json_text
from core.safecsv import CHARSETS
from lists.models import Subscriber

HEADER_LANGUAGES = ("en", "ja")
LOCAL_TIME = "%Y-%m-%d %H:%M:%S"  # what Excel reads as a date and time

COLUMN_LABELS = {
    "email": _l("Email address"), "name": _l("Name"), "status": _l("Status"), "lists": _l("Lists"),
    "created_at": _l("Created"), "updated_at": _l("Updated"), "uuid": "UUID",
    "sent_at": _l("Sent at"), "first_open_at": _l("First opened at"), "first_click_at": _l("First clicked at"),
    "bounce": _l("Bounce"), "bounce_status": _l("Bounce status"), "complaint": _l("Complaint"),
    "unsubscribed_at": _l("Unsubscribed at"), "metric": _l("Metric"), "value": _l("Value"), "url": "URL",
    "clicks": _l("Clicks"), "unique_clicks": _l("Unique clicks"), "machine_clicks": _l("Machine clicks"),
    "domain": _l("Domain"), "recipients": _l("Recipients"), "sent": _l("Sent"), "bounced": _l("Bounced"),
    "opened": _l("Opened"), "clicked": _l("Clicked"),
    "recorded_at": _l("Recorded at"), "list": _l("List"), "method": _l("Method"), "evidence": _l("Evidence"),
    "ip": _l("IP address"), "user_agent": _l("Browser"), "operator": _l("Operator"),
}


def header_language(default: str | None = None) -> str:
    """The header row's language: ?headers=ja|en, else ``default``, else the UI language."""
    asked = request.args.get("headers", "")
    if asked in HEADER_LANGUAGES:
        return asked
    return default or (str(get_locale() or "en") if str(get_locale() or "en") in HEADER_LANGUAGES else "en")


def header_row(keys: Sequence[str], language: str) -> list[str]:
    """Name the columns: the machine names in English, the UI's words in Japanese. Other keys stay as they are."""
    if language == "en":
        return list(keys)
    with force_locale(language):
        return [str(COLUMN_LABELS[key]) if key in COLUMN_LABELS else key for key in keys]


def local_time(value: datetime | None) -> str:
    """A stored UTC time as Excel reads it, in KAIRAN_TIMEZONE: ``2026-11-05 09:30:00``; none is empty."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(current_app.config["KAIRAN"].timezone)).strftime(LOCAL_TIME)


def attribute_keys(stmt: Select[Any]) -> list[str]:
    """Every attribute key of the subscribers a query selects, sorted: one export column each."""
    chosen = select(stmt.order_by(None).with_only_columns(Subscriber.id).subquery().c.id)
    if db.engine.dialect.name == "postgresql":
        key = func.jsonb_object_keys(Subscriber.attribs)
        query = select(key.label("key")).where(Subscriber.id.in_(chosen), func.jsonb_typeof(Subscriber.attribs)
                                               == "object")
    else:
        each = func.json_each(Subscriber.attribs).table_valued("key")
        query = select(each.c.key).select_from(Subscriber).join(each, true()).where(
            Subscriber.id.in_(chosen), func.json_type(Subscriber.attribs) == "object")
    return sorted({str(found) for found in db.session.scalars(query.distinct())})


def attribute_cell(attribs: dict[str, Any] | None, key: str) -> str:
    """One attribute's value as a cell: text as it is, numbers and yes/no as JSON writes them, nested as JSON."""
    value = (attribs or {}).get(key)
    if value is None:
        return ""
    return value if isinstance(value, str) else json_text(value)


def csv_download(chunks: Iterator[bytes], name: str, encoding: str) -> Response:
    """A streamed CSV download whose Content-Type names the charset its bytes are in; who downloaded it is
    audited (committed before the file streams)."""
    file_name = f"{name}-{encoding}.csv"
    audit.record("export.downloaded", audit.Target("export", None, file_name),
                 after={"path": request.path, **{key: value for key, value in request.args.items() if value},
                        "encoding": encoding})  # the default UTF-8 too, which the query leaves out
    db.session.commit()
    response = Response(stream_with_context(chunks), content_type=f"text/csv; charset={CHARSETS[encoding]}")
    response.headers["Content-Disposition"] = f"attachment; filename={file_name}"
    return response
