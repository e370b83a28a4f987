"""Customer events from a CSV file (a shop's order export): what each column holds, and each row read as an event.

The upload, its preview, progress, cancelling, the bad-rows file and the sweep of old files are the subscribers'
import machinery (lists/imports.py), on imports of kind ``events``; what differs is here. A row becomes an event
as the events API receives one (automations/events.py), so a bad row is refused with the API's own words.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _

from automations.events import NAME
from core.db import db
from core.errors import ValidationError
from core.inputs import flag
from lists.csvfiles import ENCODINGS, preview
from lists.errors import ImportStartedError
from lists.import_reader import RowError, convert
from lists.imports import EMAIL_HEADERS, upload_sample
from lists.models import Import, ImportStatus

TARGETS = ("email", "name", "occurred_at", "key", "property", "ignore")
PROPERTY_TYPES = ("text", "number")
MAX_COLUMNS = 200  # an order export is a few dozen columns; the properties must fit 16 KB anyway
PROPERTY_KEY = re.compile(r"^[^\s.{}]{1,64}$")  # as attribute names: segment rules read them by name
# Header names (case-folded) recognised without asking, Japanese first, as an EC shop's order export has them.
NAME_HEADERS = {"イベント", "イベント名", "event", "event_name"}
TIME_HEADERS = {"注文日時", "注文日", "購入日時", "購入日", "日時", "order date", "ordered_at", "occurred_at", "date"}
KEY_HEADERS = {"注文番号", "注文id", "受注番号", "order id", "order_id", "order number", "idempotency_key"}
# 2026-11-03 14:05, 2026/11/3 14:05:00, 2026-11-03T14:05:00+09:00, 2026-11-03 (midnight): as Excel and shops
# write them. A time without an offset is the installation's local time (KAIRAN_TIMEZONE).
TIME = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
                  r"\s*(Z|[+-]\d{2}:?\d{2})?", re.IGNORECASE)


def guess_mapping(header: list[str]) -> list[dict[str, Any]]:
    """Guess what each column is from its header: the address, the event name, the time, the order id, else a
    property (as text until the user marks it a number)."""
    mapping: list[dict[str, Any]] = []
    for title in header:
        key = title.strip().casefold()
        taken = {m["target"] for m in mapping}
        for target, names in (("email", EMAIL_HEADERS), ("name", NAME_HEADERS), ("occurred_at", TIME_HEADERS),
                              ("key", KEY_HEADERS)):
            if key in names and target not in taken:
                mapping.append({"target": target})
                break
        else:
            if title.strip():
                mapping.append({"target": "property", "key": re.sub(r"[\s.{}]+", "_", title.strip())[:64],
                                "type": "text"})
            else:
                mapping.append({"target": "ignore"})
    return mapping


def _check_mapping(mapping: Any, columns: int) -> list[dict[str, Any]]:
    if columns > MAX_COLUMNS:
        raise ValidationError(_("A file of events has at most %(n)d columns.", n=MAX_COLUMNS))
    if not isinstance(mapping, list) or len(mapping) != columns:
        raise ValidationError(_("Say what each of the %(n)d columns holds.", n=columns))
    checked: list[dict[str, Any]] = []
    for entry in mapping:
        target = entry.get("target") if isinstance(entry, dict) else None
        if target not in TARGETS:
            raise ValidationError(_("Each column is one of: email, name, occurred_at, key, property, ignore."))
        item: dict[str, Any] = {"target": target}
        if target == "property":
            key, kind = str(entry.get("key") or "").strip(), entry.get("type") or "text"
            if not PROPERTY_KEY.match(key):
                raise ValidationError(_("A property name is 1 to 64 characters without spaces, dots or braces."))
            if kind not in PROPERTY_TYPES:
                raise ValidationError(_("A property type is text or number."))
            item.update(key=key, type=kind)
        checked.append(item)
    targets = [m["target"] for m in checked]
    if targets.count("email") != 1:
        raise ValidationError(_("Exactly one column must hold the email address."))
    for single in ("name", "occurred_at", "key"):
        if targets.count(single) > 1:
            raise ValidationError(_("At most one column holds %(what)s.", what=single))
    keys = [m["key"] for m in checked if m["target"] == "property"]
    if len(keys) != len(set(keys)):
        raise ValidationError(_("Two columns have the same property name."))
    return checked


def configure(imp: Import, options: dict[str, Any]) -> None:
    """Set how to read an event file and what each column holds; refuse what cannot work, saying why."""
    if imp.status != ImportStatus.PENDING:
        raise ImportStartedError()
    encoding = options.get("encoding") or imp.encoding
    if encoding not in ENCODINGS and encoding != imp.encoding:
        raise ValidationError(_("Unknown encoding %(e)s.", e=encoding))
    delimiter = options.get("delimiter") or imp.delimiter
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
        raise ValidationError(_("The delimiter is one character, such as a comma or a tab."))
    header = preview(upload_sample(imp), encoding, delimiter, rows=0)
    mapping = _check_mapping(options.get("mapping") or guess_mapping(header[0] if header else []),
                             len(header[0]) if header else 0)
    event_name = str(options.get("event_name") or "").strip()
    if not any(m["target"] == "name" for m in mapping) and not NAME.fullmatch(event_name):
        raise ValidationError(_("Give the event's name (such as purchase: a-z, 0-9, _ . : and -), or choose the "
                                "column that holds it."), field="event_name")
    imp.encoding, imp.delimiter, imp.mapping = encoding, delimiter, mapping
    imp.options = {"event_name": event_name,
                   "create_subscriber": flag(options.get("create_subscriber"), "create_subscriber", default=False)}
    db.session.commit()


def local_time(text: str, zone: ZoneInfo) -> str:
    """Return a time as written in a CSV as RFC 3339 with its offset (a time without one is in zone), or raise
    RowError."""
    match = TIME.fullmatch(text.strip())
    if match is None:
        raise RowError(_("occurred_at is not a time such as 2026-11-03 14:05: %(value)s", value=text.strip()))
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                          int((fraction or "0").ljust(6, "0")))
    except ValueError:  # 2026-02-30, 25:00
        raise RowError(_("occurred_at is not a time such as 2026-11-03 14:05: %(value)s",
                         value=text.strip())) from None
    if offset is None:
        return moment.replace(tzinfo=zone).isoformat()
    offset = offset.upper()
    if offset != "Z" and ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    return moment.isoformat() + ("+00:00" if offset == "Z" else offset)


class EventRows:
    """Turns CSV rows into events as the events API reads them, by one import's mapping, worked out once."""

    def __init__(self, imp: Import) -> None:
        self.width = len(imp.mapping)
        self.columns = [(i, m["target"], m.get("key", ""), m.get("type", "text")) for i, m in enumerate(imp.mapping)
                        if m["target"] != "ignore"]
        self.event_name = str(imp.options.get("event_name") or "")
        self.create = bool(imp.options.get("create_subscriber"))
        self.zone = ZoneInfo(current_app.config["KAIRAN"].timezone)

    def __call__(self, row: list[str]) -> dict[str, Any]:
        """Return one row as an event for automations.events.ingest, or raise RowError saying why not."""
        if len(row) != self.width:
            raise RowError(_("Expected %(n)d columns, found %(m)d.", n=self.width, m=len(row)))
        if "\ufffd" in "".join(row):
            raise RowError(_("The row has bytes that are not valid in the file's encoding."))
        event: dict[str, Any] = {"name": self.event_name, "create_subscriber": self.create}
        properties: dict[str, Any] = {}
        key = ""
        for i, target, name, kind in self.columns:
            value = row[i].strip()
            if target == "email":
                event["email"] = value
            elif target == "name":
                event["name"] = value or self.event_name
            elif target == "occurred_at" and value:
                event["occurred_at"] = local_time(value, self.zone)
            elif target == "key":
                key = value
            elif target == "property":
                converted = convert(value, kind, name)
                if converted is not None:
                    properties[name] = converted
        if key:
            # The event's name is part of the key: an order's purchase and its refund are two events.
            event["idempotency_key"] = f"{event['name']}:{key}"  # past MAX_KEY_LENGTH: refused, never cut
        event["properties"] = properties
        return event
