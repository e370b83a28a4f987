"""The consent records' export: 特定電子メール法 asks a sender to keep, and show, proof of each consent.

Each record says when (in KAIRAN_TIMEZONE), how (the method, and the form's wording, the import's file or the
link), from which address and browser, and which of our people made the change (an admin, an API user, an
import's user; empty when the person did it themself). Chosen by list and by day, both days included, and written
as the other exports are (core/safecsv.py): formula-safe, UTF-8 with a BOM or Excel's CP932. Under Japanese headers
every cell that would be a code (the status, the method, the evidence's kind) is in Japanese words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import Select, select

from core.db import db
from core.errors import ValidationError
from core.inputs import ID_MAX, whole_number
from core.safecsv import chosen_encoding, csv_stream
from lists.consent_evidence import describe, operator
from lists.export import EXPORT_BATCH
from lists.export_columns import header_row, local_time
from lists.labels import label
from lists.models import ConsentRecord, MailingList, Subscriber, SubscriptionStatus
from lists.services import get_list
from lists.timeline import method_label

HEADER = ["recorded_at", "email", "list", "status", "method", "evidence", "ip", "user_agent", "operator", "uuid"]
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ConsentFilters:
    """Which records to export, and how to write them."""

    list_id: int | None  # None: every list
    start: date | None  # the first day (local), included
    end: date | None  # the last day (local), included
    encoding: str  # a key of EXPORT_ENCODINGS


def _day(value: str | None, field: str, name: str) -> date | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:  # 2026-02-30
            pass
    raise ValidationError(_("%(field)s must be a date like 2026-04-01.", field=name), field=field)


def read_filters(args: Mapping[str, Any], labels: Mapping[str, Any] | None = None) -> ConsentFilters:
    """Read the export's choices from a query string or form (list_id, from, to, encoding); each bad one named,
    by its label on the page when ``labels`` gives it (the API names its parameters)."""
    raw_list = (args.get("list_id") or "").strip()
    list_id = whole_number(raw_list, "list_id", maximum=ID_MAX) if raw_list else None
    if list_id is not None:
        get_list(list_id)  # an unknown list is said so, not exported as an empty file
    start = _day(args.get("from"), "from", str(labels["from"]) if labels else "from")
    end = _day(args.get("to"), "to", str(labels["to"]) if labels else "to")
    if start and end and start > end:
        raise ValidationError(_("%(first)s must not be after %(last)s.", first=labels["from"], last=labels["to"])
                              if labels else _("The first day (from) must not be after the last day (to)."),
                              field="from")
    return ConsentFilters(list_id, start, end, chosen_encoding(args))


def consent_query(filters: ConsentFilters) -> Select[ConsentRecord, str, str, str]:
    """The records chosen, with their subscriber's address and uuid and their list's name, oldest first."""
    zone = ZoneInfo(current_app.config["KAIRAN"].timezone)
    stmt = (select(ConsentRecord, Subscriber.email, Subscriber.uuid, MailingList.name)
            .join(Subscriber, Subscriber.id == ConsentRecord.subscriber_id)
            .join(MailingList, MailingList.id == ConsentRecord.list_id))
    if filters.list_id is not None:
        stmt = stmt.where(ConsentRecord.list_id == filters.list_id)
    if filters.start is not None:
        stmt = stmt.where(ConsentRecord.created_at >= datetime.combine(filters.start, time(), zone))
    if filters.end is not None:
        stmt = stmt.where(ConsentRecord.created_at < datetime.combine(filters.end + timedelta(days=1), time(), zone))
    return stmt


def consent_csv(filters: ConsentFilters, language: str) -> Iterator[bytes]:
    """Yield the chosen records as CSV, headed and worded in ``language``, in batches by id."""
    return csv_stream(header_row(HEADER, language), _batches(consent_query(filters), language), filters.encoding)


def status_cell(status: SubscriptionStatus, language: str) -> str:
    """The status a record set: its code in English, whose header row is the machine names too (scripts and the
    API read it, and the code never changes with a translation); the UI's word in any other language, whose
    export is for people. No separate code column: whoever needs the codes exports with English headers."""
    return status.value if language == "en" else label(status)


def _batches(stmt: Select[ConsentRecord, str, str, str], language: str) -> Iterator[list[list[str]]]:
    last_id = 0
    while True:
        rows = db.session.execute(stmt.where(ConsentRecord.id > last_id).order_by(ConsentRecord.id)
                                  .limit(EXPORT_BATCH)).all()
        if not rows:
            return
        with force_locale(language):  # the status, method and evidence in the header's language, whoever downloads
            yield [[local_time(record.created_at), email, list_name, status_cell(record.status, language),
                    method_label(record.method), describe(record.evidence), record.ip or "", record.user_agent or "",
                    operator(record.evidence), uuid] for record, email, uuid, list_name in rows]
        last_id = rows[-1][0].id
        db.session.expunge_all()  # keep memory flat
