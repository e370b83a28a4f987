"""CSV import services: upload, preview, configure, cancel, progress, and how long an import's files are kept;
shared by the UI and the API."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from core.db import db, utcnow
from core.errors import NotFoundError, ValidationError
from core.i18n import time_left_text
from core.safecsv import restored
from lists import import_files
from lists.csvfiles import ENCODINGS, SAMPLE_BYTES, LineCount, decode_sample, detect_delimiter, detect_encoding, preview
from lists.errors import ImportRunningError, ImportStartedError, UploadGoneError
from lists.models import Import, ImportFile, ImportKind, ImportMode, ImportStatus, SubscriptionStatus
from lists.subscribers import lists_by_id

# Uploads and bad rows hold personal data. An upload goes as soon as its import ends; one whose import
# was never started, or whose worker died without a word, goes after these (lists/__init__.py has
# the workers sweep every SWEEP_SECONDS). Bad rows stay a while for the person who imported.
UNSTARTED_UPLOAD_KEPT = timedelta(days=1)
STALLED_AFTER = timedelta(hours=1)  # progress is saved after every batch, seconds apart
BAD_ROWS_KEPT = timedelta(days=30)
SWEEP_SECONDS = 600  # an abandoned upload outlives its time by at most this
ENDED = (ImportStatus.FINISHED, ImportStatus.FAILED, ImportStatus.CANCELLED)
TARGETS = ("email", "name", "attribute", "attribs_json", "ignore")
ATTRIBUTE_TYPES = ("text", "number", "boolean", "date")
# Header names (case-folded) recognised without asking, Japanese first.
EMAIL_HEADERS = {"email", "e-mail", "mail", "メール", "メールアドレス", "eメール", "mailaddress", "email address"}
NAME_HEADERS = {"name", "名前", "氏名", "お名前", "full name"}
ATTRIBUTE_KEY = re.compile(r"^[^\s.{}]{1,64}$")


def first_errors(imp: Import, limit: int) -> list[list[str]]:
    """Return up to limit bad rows of an import as [line, reason, row] (read only as far as needed)."""
    with io.TextIOWrapper(import_files.open_file(imp.id, ImportFile.BAD_ROWS), encoding="utf-8-sig",
                          newline="") as text:
        return [[restored(cell) for cell in row] for row in islice(csv.reader(text), 1, limit + 1)]


def upload_sample(imp: Import) -> bytes:
    """Return the first bytes of an import's upload, enough to preview it; say so when it is gone."""
    with import_files.open_file(imp.id, ImportFile.UPLOAD) as upload:
        sample = upload.read(SAMPLE_BYTES)
    if not sample:
        raise UploadGoneError(_("The uploaded file is no longer kept. Upload it again."))
    return sample


def auto_mapping(header: list[str]) -> list[dict[str, Any]]:
    """Guess what each column is from its header: email, name, listmonk's JSON attributes, else an attribute."""
    mapping: list[dict[str, Any]] = []
    for title in header:
        key = title.strip().casefold()
        if key in EMAIL_HEADERS and not any(m["target"] == "email" for m in mapping):
            mapping.append({"target": "email"})
        elif key in NAME_HEADERS and not any(m["target"] == "name" for m in mapping):
            mapping.append({"target": "name"})
        elif key in {"attributes", "attribs"}:
            mapping.append({"target": "attribs_json"})
        elif title.strip():
            mapping.append({"target": "attribute", "key": title.strip(), "type": "text"})
        else:
            mapping.append({"target": "ignore"})
    return mapping


def upload(stream: IO[bytes], file_name: str, created_by: str, kind: ImportKind = ImportKind.SUBSCRIBERS,
           guess: Callable[[list[str]], list[dict[str, Any]]] = auto_mapping) -> Import:
    """Store an uploaded CSV with its import, and detect how to read it; nothing is imported yet.

    ``guess`` maps the header's columns as the import's kind reads them (an event import has columns of its own).
    The import and its file are saved in one transaction: an upload that fails leaves nothing behind.
    """
    chunks = import_files.chunks_of(stream)
    first = next(chunks, b"")
    sample = first[:SAMPLE_BYTES]
    if not sample.strip():
        raise ValidationError(_("The file is empty."))
    if b"\x00" in sample:  # no CSV in the encodings Kairan reads holds a NUL byte; gzip, zip and Excel files do
        raise ValidationError(_("The file is not a CSV file: it is compressed or binary. Upload the CSV itself."))
    encoding = detect_encoding(sample)
    delimiter = detect_delimiter(decode_sample(sample, encoding))
    header = preview(sample, encoding, delimiter, rows=0)
    imp = Import(kind=kind, file_name=Path(file_name or "upload.csv").name[:255], encoding=encoding,
                 delimiter=delimiter, mapping=guess(header[0] if header else []), created_by=created_by,
                 status=ImportStatus.PENDING)
    db.session.add(imp)
    db.session.flush()  # its id, which its file's chunks carry
    count = LineCount()
    try:
        import_files.save(imp.id, ImportFile.UPLOAD, count.through(chain([first], chunks)))
    except BaseException:
        db.session.rollback()
        raise
    imp.total = max(count.lines - 1, 0)  # the header is no row
    db.session.commit()
    return imp


def get_import(import_id: int, kind: ImportKind | None = None) -> Import:
    """Return an import (of this kind, when given) or raise NotFoundError."""
    imp = db.session.get(Import, import_id)
    if imp is None or (kind is not None and imp.kind != kind):
        raise NotFoundError(_("Import not found."))
    return imp


def latest_import(kind: ImportKind = ImportKind.SUBSCRIBERS) -> Import | None:
    """Return the newest import of a kind (listmonk's API knows one import at a time)."""
    return db.session.scalars(select(Import).where(Import.kind == kind).order_by(Import.id.desc()).limit(1)).first()


def running_import(kind: ImportKind = ImportKind.SUBSCRIBERS) -> Import | None:
    """Return an import of a kind that is queued or running, if any (each kind runs one at a time)."""
    return db.session.scalars(
        select(Import).where(Import.kind == kind, Import.status.in_([ImportStatus.QUEUED, ImportStatus.IMPORTING]))
        .limit(1)
    ).first()


MAX_COLUMNS = 1_000  # wider than any subscriber export: a mapping form with more is not the preview's


def _check_mapping(mapping: Any, columns: int) -> list[dict[str, Any]]:
    if columns > MAX_COLUMNS:
        raise ValidationError(_("A file to import has at most %(n)d columns.", n=MAX_COLUMNS))
    if not isinstance(mapping, list) or len(mapping) != columns:
        raise ValidationError(_("Say what each of the %(n)d columns holds.", n=columns))
    checked: list[dict[str, Any]] = []
    for entry in mapping:
        target = entry.get("target") if isinstance(entry, dict) else None
        if target not in TARGETS:
            raise ValidationError(_("Each column is one of: email, name, attribute, attribs_json, ignore."))
        item: dict[str, Any] = {"target": target}
        if target == "attribute":
            key, kind = str(entry.get("key") or "").strip(), entry.get("type") or "text"
            if not ATTRIBUTE_KEY.match(key):
                raise ValidationError(_("An attribute name is 1 to 64 characters without spaces, dots or braces."))
            if kind not in ATTRIBUTE_TYPES:
                raise ValidationError(_("An attribute type is one of: text, number, boolean, date."))
            item.update(key=key, type=kind)
        checked.append(item)
    if [m["target"] for m in checked].count("email") != 1:
        raise ValidationError(_("Exactly one column must hold the email address."))
    return checked


def configure(imp: Import, options: dict[str, Any]) -> None:
    """Set how to read the file and what to do with it; refuse what cannot work, saying why."""
    if imp.status != ImportStatus.PENDING:
        raise ImportStartedError()
    encoding = options.get("encoding") or imp.encoding
    if encoding not in ENCODINGS and encoding != imp.encoding:
        raise ValidationError(_("Unknown encoding %(e)s.", e=encoding))
    delimiter = options.get("delimiter") or imp.delimiter
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
        raise ValidationError(_("The delimiter is one character, such as a comma or a tab."))
    header = preview(upload_sample(imp), encoding, delimiter, rows=0)
    columns = len(header[0]) if header else 0
    mapping = options.get("mapping") or auto_mapping(header[0] if header else [])
    try:
        mode = ImportMode(options.get("mode") or ImportMode.SUBSCRIBE)
        status = SubscriptionStatus(options.get("subscription_status") or SubscriptionStatus.CONFIRMED)
    except ValueError:
        raise ValidationError(_("mode is subscribe, blocklist or unsubscribe.")) from None
    lists = lists_by_id(options.get("lists") or [])
    if mode != ImportMode.BLOCKLIST and not lists:
        raise ValidationError(_("Choose at least one list."))
    imp.encoding, imp.delimiter, imp.mapping = encoding, delimiter, _check_mapping(mapping, columns)
    imp.mode, imp.subscription_status, imp.list_ids = mode, status, [m.id for m in lists]
    imp.overwrite = bool(options.get("overwrite"))
    db.session.commit()


def cancel(imp: Import) -> None:
    """Ask a running import to stop after its current batch (rows written so far stay)."""
    if imp.status in (ImportStatus.QUEUED, ImportStatus.IMPORTING):
        imp.cancel_requested = True
    elif imp.status == ImportStatus.PENDING:
        imp.status = ImportStatus.CANCELLED
        imp.finished_at = utcnow()
        import_files.remove(imp.id, ImportFile.UPLOAD)
    db.session.commit()


def delete_import(imp: Import) -> None:
    """Delete an import that is not running, with its upload and its bad rows (its files go with it)."""
    if imp.status in (ImportStatus.QUEUED, ImportStatus.IMPORTING):
        raise ImportRunningError(_("This import is running; cancel it first."))
    db.session.delete(imp)
    db.session.commit()


def sweep() -> None:
    """Forget what imports keep past its time (a periodic job): uploads of ended imports, of imports never
    started after UNSTARTED_UPLOAD_KEPT and of imports whose worker stopped; bad rows after BAD_ROWS_KEPT."""
    now = utcnow()
    db.session.execute(update(Import).where(Import.status == ImportStatus.PENDING,
                                            Import.created_at < now - UNSTARTED_UPLOAD_KEPT)
                       .values(status=ImportStatus.CANCELLED, finished_at=now))
    db.session.execute(update(Import).where(Import.status == ImportStatus.IMPORTING,
                                            Import.updated_at < now - STALLED_AFTER)
                       .values(status=ImportStatus.FAILED, finished_at=now,
                               error=_("The worker running this import stopped. Upload the file again.")))
    import_files.remove(select(Import.id).where(Import.status.in_(ENDED)), ImportFile.UPLOAD)
    import_files.remove(select(Import.id).where(Import.status.in_(ENDED), Import.finished_at < now - BAD_ROWS_KEPT),
                        ImportFile.BAD_ROWS)
    db.session.commit()


def progress(imp: Import) -> dict[str, Any]:
    """Return rows done of total, rate and time left, for the progress bar and the API."""
    elapsed = ((imp.finished_at or utcnow()) - imp.started_at).total_seconds() if imp.started_at else 0.0
    rate = imp.done / elapsed if elapsed > 0 else 0.0
    left = max(imp.total - imp.done, 0)
    seconds_left = round(left / rate) if rate and imp.status == ImportStatus.IMPORTING else None
    return {
        "id": imp.id, "name": imp.file_name, "status": imp.status.value, "total": imp.total, "done": imp.done,
        "imported": imp.imported, "failed": imp.failed, "rate": round(rate), "error": imp.error,
        # Rows that repeated an address of the same batch and were merged into it.
        "merged": max(imp.done - imp.imported - imp.failed, 0) if imp.finished_at else 0,
        "percent": round(100 * imp.done / imp.total, 1) if imp.total else (100.0 if imp.finished_at else 0.0),
        "seconds_left": seconds_left, "time_left": time_left_text(seconds_left),
    }
