"""The CSV import job: streams the file, merges duplicates, writes batches with upserts, reports bad rows."""

from __future__ import annotations

import csv
import json
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from queue import Full, Queue
from threading import Event, Thread
from typing import IO, Any, TypeVar

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update

from core.db import db, json_text, new_uuid, utcnow
from core.errors import ValidationError
from lists import queries
from lists.addresses import address_key, normalise_email
from lists.csvfiles import count_rows, rows
from lists.imports import errors_path, get_import, remove_upload
from lists.models import (
    ConsentMethod,
    Import,
    ImportMode,
    ImportStatus,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)

T = TypeVar("T")
BATCH_ROWS = 5000  # rows per transaction: large enough to amortise round trips, small enough for SQLite's lock
TRUE_WORDS = {"1", "true", "yes", "y", "on", "はい", "有", "○"}
FALSE_WORDS = {"0", "false", "no", "n", "off", "いいえ", "無", "×", ""}


class RowError(Exception):
    """A row that cannot be imported; the message says why."""


@dataclass
class Parsed:
    """One good row: the address to store, its name and attributes."""

    email: str
    name: str | None
    attribs: dict[str, Any] = field(default_factory=dict)


def _convert(value: str, kind: str, key: str) -> Any:
    text = value.strip()
    if kind == "text":
        return text or None
    if not text:
        return None
    if kind == "number":
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            raise RowError(_("%(key)s is not a number: %(value)s", key=key, value=text)) from None
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        word = text.casefold()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise RowError(_("%(key)s is not yes or no: %(value)s", key=key, value=text))
    try:  # date: 2026-11-23 or 2026/11/23, as Excel writes them
        return datetime.strptime(text.replace("/", "-"), "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise RowError(_("%(key)s is not a date (YYYY-MM-DD): %(value)s", key=key, value=text)) from None


def parse_row(row: list[str], mapping: list[dict[str, Any]]) -> Parsed:
    """Turn one CSV row into an address, a name and attributes, or raise RowError saying why not."""
    if len(row) != len(mapping):
        raise RowError(_("Expected %(n)d columns, found %(m)d.", n=len(mapping), m=len(row)))
    if any("\ufffd" in value for value in row):
        raise RowError(_("The row has bytes that are not valid in the file's encoding."))
    email = ""
    parsed = Parsed(email="", name=None)
    for value, column in zip(row, mapping, strict=True):
        target = column["target"]
        if target == "email":
            try:
                email = normalise_email(value)
            except ValidationError as error:
                raise RowError(error.message) from None
        elif target == "name":
            parsed.name = value.strip()[:200] or None
        elif target == "attribute":
            converted = _convert(value, column["type"], column["key"])
            if converted is not None:
                parsed.attribs[column["key"]] = converted
        elif target == "attribs_json" and value.strip():
            try:
                extra = json.loads(value)
            except json.JSONDecodeError:
                raise RowError(_("The attributes column is not valid JSON.")) from None
            if not isinstance(extra, dict):
                raise RowError(_("The attributes column must hold a JSON object."))
            parsed.attribs.update(extra)
    parsed.email = email
    return parsed


class BatchWriter:
    """Writes batches of parsed rows for one import, in one transaction each."""

    def __init__(self, imp: Import) -> None:
        self.mode = imp.mode
        self.overwrite = imp.overwrite
        self.list_ids = list(imp.list_ids)
        self.status = imp.subscription_status
        self.evidence = _("Import of %(file)s by %(user)s", file=imp.file_name, user=imp.created_by)

    def write(self, batch: dict[str, Parsed]) -> None:
        """Write one batch (keys are case-folded addresses, already unique within the batch)."""
        now = utcnow()
        existing = queries.subscribers_by_key(list(batch))
        new = self._write_subscribers(batch, existing, now) if self.mode != ImportMode.UNSUBSCRIBE else {}
        if self.mode == ImportMode.SUBSCRIBE:
            self._subscribe(existing, new, now)
        else:  # subscribers this batch created have no subscriptions to change
            lists = self.list_ids if self.mode == ImportMode.UNSUBSCRIBE else None
            self._change_subscriptions([subscriber_id for subscriber_id, _status in existing.values()], lists, now)
        db.session.commit()

    def _write_subscribers(self, batch: dict[str, Parsed], existing: dict[str, tuple[int, str]],
                           now: datetime) -> dict[str, tuple[int, str]]:
        """Insert new addresses (returning their ids); change existing ones only when overwriting or blocklisting."""
        blocklisting = self.mode == ImportMode.BLOCKLIST
        status = (SubscriberStatus.BLOCKLISTED if blocklisting else SubscriberStatus.ENABLED).value
        stamp = queries.db_time(now)
        new = queries.insert_subscribers([
            (new_uuid(), row.email, key, row.name or row.email.split("@")[0], json_text(row.attribs), status,
             stamp, stamp)
            for key, row in batch.items() if key not in existing
        ])
        if blocklisting:
            queries.update_subscribers([(status, stamp, key) for key in existing], ["status"])
        elif self.overwrite:
            queries.update_subscribers(
                [(batch[key].name or batch[key].email.split("@")[0], json_text(batch[key].attribs), stamp, key)
                 for key in existing], ["name", "attribs"])
        return new

    def _subscribe(self, existing: dict[str, tuple[int, str]], new: dict[str, tuple[int, str]],
                   now: datetime) -> None:
        # Blocklisted subscribers are never subscribed again by an import.
        ids = (*existing.values(), *new.values())
        wanted = [i for i, status in ids if status != SubscriberStatus.BLOCKLISTED.value]
        # Only subscribers that were there before the batch can have subscriptions already.
        taken = queries.existing_subscriptions([i for i, _status in existing.values()], self.list_ids)
        # Consent is recorded for the subscriptions this import creates, not for existing ones.
        pairs = [(s, lst) for s in wanted for lst in self.list_ids if (s, lst) not in taken]
        stamp = queries.db_time(now)
        queries.insert_subscriptions([(s, lst, self.status.value, "{}", stamp, stamp) for s, lst in pairs])
        self._consent(pairs, self.status, now)

    def _change_subscriptions(self, ids: Iterable[int], list_ids: list[int] | None, now: datetime) -> None:
        """Unsubscribe these subscribers (from some lists, or all), recording each change."""
        stmt = select(Subscription.subscriber_id, Subscription.list_id).where(
            Subscription.subscriber_id.in_(list(ids)), Subscription.status != SubscriptionStatus.UNSUBSCRIBED)
        if list_ids is not None:
            stmt = stmt.where(Subscription.list_id.in_(list_ids))
        changed = [(s, lst) for s, lst in db.session.execute(stmt)]
        if not changed:
            return
        update_stmt = update(Subscription).where(
            Subscription.subscriber_id.in_({s for s, _ in changed}),
            Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
        )
        if list_ids is not None:
            update_stmt = update_stmt.where(Subscription.list_id.in_(list_ids))
        db.session.execute(update_stmt.values(status=SubscriptionStatus.UNSUBSCRIBED, updated_at=now))
        self._consent(changed, SubscriptionStatus.UNSUBSCRIBED, now)

    def _consent(self, pairs: list[tuple[int, int]], status: SubscriptionStatus, now: datetime) -> None:
        stamp = queries.db_time(now)
        queries.insert_consent_records([
            (s, lst, stamp, ConsentMethod.IMPORT.value, status.value, None, None, self.evidence) for s, lst in pairs
        ])


def _progress(imp_id: int, **values: Any) -> bool:
    """Save progress; return whether a cancel was asked for."""
    db.session.execute(update(Import).where(Import.id == imp_id).values(**values))
    db.session.commit()
    return bool(db.session.scalar(select(Import.cancel_requested).where(Import.id == imp_id)))


def run_import(import_id: int, language: str = "en") -> dict[str, int]:
    """Import one CSV file (an RQ job); errors propagate after the import is marked failed."""
    with force_locale(language):
        imp = get_import(import_id)
        if imp.cancel_requested:
            _progress(import_id, status=ImportStatus.CANCELLED, finished_at=utcnow())
            remove_upload(imp)
            return {"imported": 0, "failed": 0}
        path = Path(imp.path)
        _progress(import_id, status=ImportStatus.IMPORTING, started_at=utcnow(),
                  total=max(count_rows(path) - 1, 0))
        try:
            counts = _run(imp, path, language)
        except Exception as error:
            db.session.rollback()
            _progress(import_id, status=ImportStatus.FAILED, finished_at=utcnow(), error=str(error)[:2000])
            raise
        finally:
            remove_upload(imp)
        return counts


def _batches(imp: Import, path: Path, errors_file: IO[str]) -> Generator[tuple[dict[str, Parsed], int, int]]:
    """Read and check the file: yield (batch, rows read, bad rows) every BATCH_ROWS good addresses, and at
    the end; bad rows go to errors_file."""
    mapping, delimiter = list(imp.mapping), imp.delimiter
    done = failed = 0
    batch: dict[str, Parsed] = {}
    errors = csv.writer(errors_file)
    errors.writerow(["line", "reason", "row"])
    records = rows(path, imp.encoding, delimiter)
    next(records, None)  # the header
    for line, row, problem in records:
        if row is not None and not any(cell.strip() for cell in row):
            continue  # blank lines are not rows
        done += 1
        try:
            if row is None:
                raise RowError(_("The CSV cannot be read here: %(problem)s", problem=problem))
            parsed = parse_row(row, mapping)
        except RowError as error:
            failed += 1
            errors.writerow([line, str(error), delimiter.join(row or [])])
            continue
        key = address_key(parsed.email)
        if key in batch:  # the same address twice in the file: merge, later values win
            earlier = batch[key]
            parsed.attribs = {**earlier.attribs, **parsed.attribs}
            parsed.name = parsed.name or earlier.name
        batch[key] = parsed
        if len(batch) >= BATCH_ROWS:
            errors_file.flush()  # the import's page lists bad rows while it runs
            yield batch, done, failed
            batch = {}
    yield batch, done, failed


def _read_ahead(items: Generator[T], language: str) -> Iterator[T]:
    """Yield what ``items`` yields, produced one item ahead in a thread.

    The thread parses the next batch while PostgreSQL writes this one (psycopg frees the GIL
    while it waits), so the database's work and Python's overlap. It gets
    its own app context, for the translated reasons of bad rows.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    handoff: Queue[tuple[Any, BaseException | None]] = Queue(maxsize=1)
    stop = Event()
    end = object()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                handoff.put((item, error), timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        with app.app_context(), force_locale(language):
            try:
                for item in items:
                    if not put(item):
                        return
                put(end)
            except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
                put(end, error)
            finally:
                items.close()

    thread = Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _run(imp: Import, path: Path, language: str) -> dict[str, int]:
    writer = BatchWriter(imp)
    imp_id, estimate = imp.id, imp.total
    done = imported = failed = 0
    cancelled = False
    with errors_path(imp).open("w", encoding="utf-8-sig", newline="") as errors_file:
        reader = _batches(imp, path, errors_file)
        # SQLite works in this process, under the GIL: reading ahead in a thread only added switching.
        batches = reader if queries.is_sqlite() else _read_ahead(reader, language)
        for batch, done, failed in batches:
            if batch:
                writer.write(batch)
                imported += len(batch)
            if _progress(imp_id, done=done, imported=imported, failed=failed):
                cancelled = True
                break
    # The line count was an estimate (quoted newlines, blank lines); a finished import knows.
    _progress(imp_id, done=done, imported=imported, failed=failed, finished_at=utcnow(),
              total=done if not cancelled else estimate,
              status=ImportStatus.CANCELLED if cancelled else ImportStatus.FINISHED)
    return {"imported": imported, "failed": failed}
