"""The CSV import job: streams the file, merges duplicates, writes batches with upserts, reports bad rows."""

from __future__ import annotations

import gc
import json
import multiprocessing
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, NamedTuple

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from core import queues
from core.db import commit_without_waiting_for_disk, db, json_text, new_uuid, utcnow
from core.errors import ValidationError
from core.oneline import one_line
from core.safecsv import SafeWriter
from lists import queries
from lists.addresses import address_key, normalise_email
from lists.consent_evidence import coded
from lists.csvfiles import count_rows, rows
from lists.imports import errors_path, get_import, remove_upload, running_import
from lists.models import (
    ConsentMethod,
    Import,
    ImportMode,
    ImportStatus,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from lists.queues import IMPORT_QUEUE

# Rows per transaction: on SQLite 20,000 took 7% less CPU than 5,000 (fewer, larger FTS5 segments to
# merge), and hold the write lock ~0.3 s.
IMPORT_JOB_TIMEOUT = 6 * 3600  # seconds; a large file at tens of thousands of rows a second is minutes
BATCH_ROWS = 20_000
# PostgreSQL works each connection's statements in a server process of its own, and its index
# upkeep is most of an import's time: a batch is written in this many parts at once, each in its
# own transaction on its own connection, so the server uses both cores. SQLite has one writer.
POSTGRES_WRITERS = 2
TRUE_WORDS = {"1", "true", "yes", "y", "on", "はい", "有", "○"}
FALSE_WORDS = {"0", "false", "no", "n", "off", "いいえ", "無", "×", ""}
NAME_FIELD = _l("Name")  # lazy: translated only for a row that is refused


# email_key -> (address, name, attributes as JSON text, uuid if new): one batch's subscribers, one per address.
Batch = dict[str, tuple[str, str, str, str]]


class Reading(NamedTuple):
    """What the reader process needs to read an import's file (plain values: it must not touch the database)."""

    path: Path
    encoding: str
    delimiter: str
    mapping: list[dict[str, Any]]
    errors_path: Path
    streams: int  # the batches are read already split in this many parts, by address (see Streams)


class RowError(Exception):
    """A row that cannot be imported; the message says why."""


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


class RowParser:
    """Turns CSV rows into (address, name, attributes) by one mapping, worked out once for the whole file."""

    def __init__(self, mapping: list[dict[str, Any]]) -> None:
        self.width = len(mapping)
        # (column, target, key, type) in the mapping's order, so the first bad column is the one reported.
        self.columns = [(i, m["target"], m.get("key", ""), m.get("type", "text"))
                        for i, m in enumerate(mapping) if m["target"] != "ignore"]

    def __call__(self, row: list[str]) -> tuple[str, str | None, dict[str, Any]]:
        """Return one row's address, name and attributes, or raise RowError saying why not."""
        if len(row) != self.width:
            raise RowError(_("Expected %(n)d columns, found %(m)d.", n=self.width, m=len(row)))
        if "\ufffd" in "".join(row):
            raise RowError(_("The row has bytes that are not valid in the file's encoding."))
        email, name, attribs = "", None, {}
        for i, target, key, kind in self.columns:
            value = row[i]
            if target == "email":
                try:
                    email = normalise_email(value)
                except ValidationError as error:
                    raise RowError(error.message) from None
            elif target == "name":
                try:
                    name = one_line(value, NAME_FIELD)[:200] or None
                except ValidationError as error:
                    raise RowError(error.message) from None
            elif target == "attribute":
                converted = _convert(value, kind, key)
                if converted is not None:
                    attribs[key] = converted
            elif target == "attribs_json" and value.strip():
                try:
                    extra = json.loads(value)
                except json.JSONDecodeError:
                    raise RowError(_("The attributes column is not valid JSON.")) from None
                if not isinstance(extra, dict):
                    raise RowError(_("The attributes column must hold a JSON object."))
                attribs.update(extra)
        return email, name, attribs


class BatchWriter:
    """Writes batches of parsed rows for one import, in one transaction each."""

    def __init__(self, imp: Import) -> None:
        self.mode = imp.mode
        self.overwrite = imp.overwrite
        self.list_ids = list(imp.list_ids)
        self.status = imp.subscription_status
        self.evidence = coded("import", file=imp.file_name, user=imp.created_by)

    def write(self, batch: Batch) -> None:
        """Write one batch (keys are case-folded addresses, already unique within the batch)."""
        queries.bulk_checkpoints(True)  # each batch: its connection may be another one of the pool
        # The import's progress, saved after the batch with an ordinary commit, waits for the disk
        # for it too: a crash of PostgreSQL never loses rows the import says it wrote.
        commit_without_waiting_for_disk()
        now = utcnow()
        existing = queries.subscribers_by_key(list(batch))
        new = self._write_subscribers(batch, existing, now) if self.mode != ImportMode.UNSUBSCRIBE else {}
        if self.mode == ImportMode.SUBSCRIBE:
            self._subscribe(existing, new, now)
        else:  # subscribers this batch created have no subscriptions to change
            lists = self.list_ids if self.mode == ImportMode.UNSUBSCRIBE else None
            self._change_subscriptions([subscriber_id for subscriber_id, _status in existing.values()], lists, now)
        db.session.commit()

    def _write_subscribers(self, batch: Batch, existing: dict[str, tuple[int, str]],
                           now: datetime) -> dict[str, tuple[int, str]]:
        """Insert new addresses (returning their ids); change existing ones only when overwriting or blocklisting."""
        blocklisting = self.mode == ImportMode.BLOCKLIST
        status = (SubscriberStatus.BLOCKLISTED if blocklisting else SubscriberStatus.ENABLED).value
        stamp = queries.db_time(now)
        new = queries.insert_subscribers([
            (uuid, email, key, name, attribs, status, stamp, stamp)
            for key, (email, name, attribs, uuid) in batch.items() if key not in existing
        ])
        if blocklisting:
            queries.update_subscribers([(status, stamp, key) for key in existing], ["status"])
        elif self.overwrite:
            queries.update_subscribers([(*batch[key][1:3], stamp, key) for key in existing], ["name", "attribs"])
        return new

    def _subscribe(self, existing: dict[str, tuple[int, str]], new: dict[str, tuple[int, str]],
                   now: datetime) -> None:
        # Blocklisted subscribers are never subscribed again by an import.
        blocklisted = SubscriberStatus.BLOCKLISTED.value  # enum values looked up once, not per row
        ids = (*existing.values(), *new.values())
        wanted = [i for i, status in ids if status != blocklisted]
        # Only subscribers that were there before the batch can have subscriptions already.
        taken = queries.existing_subscriptions([i for i, _status in existing.values()], self.list_ids)
        stamp, status = queries.db_time(now), self.status.value
        for list_id in self.list_ids:
            joining = [i for i in wanted if (i, list_id) not in taken] if taken else wanted
            queries.insert_subscriptions(joining, list_id, status, stamp)
            # Consent is recorded for the subscriptions this import creates, not for existing ones.
            self._consent(joining, list_id, self.status, now)

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
        for list_id in sorted({lst for _s, lst in changed}):
            self._consent([s for s, lst in changed if lst == list_id], list_id, SubscriptionStatus.UNSUBSCRIBED, now)

    def _consent(self, ids: list[int], list_id: int, status: SubscriptionStatus, now: datetime) -> None:
        queries.insert_consent_records(ids, list_id, queries.db_time(now), status.value,
                                       method=ConsentMethod.IMPORT.value, evidence=self.evidence)


class Streams:
    """Writes the batches in streams, one per connection, each in its own thread; inline on SQLite.

    An address always goes to the same stream (the reader splits by its hash), and each stream
    writes its parts in the file's order, so a later row of the same address is still written
    after an earlier one; parts of different streams never touch the same subscriber. Each stream holds at most one part
    waiting, so memory stays flat, and runs on without waiting for the others.
    """

    def __init__(self, writer: BatchWriter, streams: int) -> None:
        self.writer = writer
        self.app = current_app._get_current_object()  # type: ignore[attr-defined]
        self.queues: list[queue.Queue[Batch | None]] = [queue.Queue(maxsize=1) for _ in range(streams)] \
            if streams > 1 else []  # one stream: written inline, in this thread
        self.threads = [threading.Thread(target=self._run, args=(q,), name=f"import-writer-{i}", daemon=True)
                        for i, q in enumerate(self.queues)]
        self.lock = threading.Lock()
        self.written = 0  # rows committed so far
        self.error: BaseException | None = None
        for thread in self.threads:
            thread.start()

    def write(self, parts: list[Batch]) -> None:
        """Hand a batch's parts to the streams (returns once each has room); raise a stream's error."""
        if not self.queues:
            (part,) = parts
            if part:
                self.writer.write(part)
                self.written += len(part)
            return
        for part, waiting in zip(parts, self.queues, strict=True):
            if part:
                waiting.put(part)
        self.raise_error()

    def close(self) -> None:
        """Let the streams write what they hold and end (raise_error then tells how they ended)."""
        for waiting in self.queues:
            waiting.put(None)
        for thread in self.threads:
            thread.join()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self, waiting: queue.Queue[Batch | None]) -> None:
        with self.app.app_context():  # a session, and so a connection, of this thread's own
            while (part := waiting.get()) is not None:
                if self.error is not None:
                    continue  # another stream failed: drain, so the reader of the file never waits on us
                try:
                    self.writer.write(part)
                except BaseException as error:  # noqa: BLE001 - raised in the job's thread by write/close
                    db.session.rollback()
                    self.error = error
                    continue
                with self.lock:
                    self.written += len(part)


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
        try:  # counting reads the file too: a missing or unreadable upload fails the import, not leaves it hanging
            _progress(import_id, status=ImportStatus.IMPORTING, started_at=utcnow(),
                      total=max(count_rows(path) - 1, 0))
            counts = _run(imp, path)
        except Exception as error:
            db.session.rollback()
            _progress(import_id, status=ImportStatus.FAILED, finished_at=utcnow(), error=str(error)[:2000])
            raise
        finally:
            remove_upload(imp)
        return counts


def _batches(reading: Reading, errors_file: IO[str]) -> Iterator[tuple[list[Batch], int, int]]:
    """Read and check the file: yield (batch in reading.streams parts, rows read, bad rows) every BATCH_ROWS
    good addresses, and at the end; bad rows go to errors_file."""
    parse = RowParser(reading.mapping)
    done = failed = size = 0
    parts: list[dict[str, tuple[str, str | None, dict[str, Any]]]] = [{} for _ in range(reading.streams)]
    errors = SafeWriter(errors_file)  # =1+2 in a bad row stays text when the file is opened in Excel
    errors.writerow(["line", "reason", "row"])
    records = rows(reading.path, reading.encoding, reading.delimiter)
    next(records, None)  # the header
    for line, row, problem in records:
        if row is not None and not "".join(row).strip():
            continue  # blank lines are not rows
        done += 1
        try:
            if row is None:
                raise RowError(_("The CSV cannot be read here: %(problem)s", problem=problem))
            email, name, attribs = parse(row)
        except RowError as error:
            failed += 1
            errors.writerow([line, str(error), reading.delimiter.join(row or [])])
            continue
        key = address_key(email)
        part = parts[hash(key) % reading.streams]
        earlier = part.get(key)
        if earlier is not None:  # the same address twice in the file: merge, later values win
            attribs = {**earlier[2], **attribs}
            name = name or earlier[1]
        else:
            size += 1
        part[key] = (email, name, attribs)
        if size >= BATCH_ROWS:
            errors_file.flush()  # the import's page lists bad rows while it runs
            yield [_stored(part) for part in parts], done, failed
            parts, size = [{} for _ in range(reading.streams)], 0
    yield [_stored(part) for part in parts], done, failed


def _stored(batch: dict[str, tuple[str, str | None, dict[str, Any]]]) -> Batch:
    """Return a batch as the writer stores it: the name defaults to the local part, attributes as JSON text,
    and a uuid for the subscriber it may create, made here because this process has CPU to spare."""
    return {key: (email, name or email.split("@")[0], json_text(attribs), new_uuid())
            for key, (email, name, attribs) in batch.items()}


def _read_file(reading: Reading, sender: Connection) -> None:
    """Read and check the whole file, sending each batch to the writer (runs in the reader process)."""
    # What this process inherited (the app, the worker's objects) is kept out of the collector's sight, as
    # `flask worker` does for itself (core/cli.py): otherwise each full collection that a batch's
    # allocations set off walks all of it again. The reader's CPU for 1M rows: 7.9 s, frozen 6.1 s.
    gc.freeze()
    try:
        with reading.errors_path.open("w", encoding="utf-8-sig", newline="") as errors_file:
            for item in _batches(reading, errors_file):
                sender.send(item)  # blocks while the writer is a batch behind: memory stays flat
        sender.send(None)
    except Exception as error:  # noqa: BLE001 - handed to the writer, which fails the import with it
        sender.send(RuntimeError(f"{type(error).__name__}: {error}"))
    finally:
        sender.close()


def _read_ahead(reading: Reading) -> Generator[tuple[list[Batch], int, int]]:
    """Yield the file's batches, read and checked by a second process while this one writes.

    Decoding, CSV parsing and address checks take a third of an import's time (SQLite writes in
    this very process): a process of their own runs them on the second core. It is forked, so
    it shares the app context and the locale bad rows are explained in, and it touches no
    database or Redis connection. A cancelled import stops it.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    reader = context.Process(target=_read_file, args=(reading, sender), name="import-reader", daemon=True)
    reader.start()
    sender.close()  # the reader holds the only sending end: its exit ends recv() with EOFError
    try:
        while True:
            try:
                item = receiver.recv()
            except EOFError:
                raise RuntimeError("The import's reader process ended before the end of the file.") from None
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        receiver.close()
        if reader.is_alive():
            reader.kill()  # not terminate(): the reader inherited the worker's own SIGTERM handler
        reader.join()


def _run(imp: Import, path: Path) -> dict[str, int]:
    imp_id, estimate = imp.id, imp.total
    done = failed = 0
    cancelled = False
    count = 1 if queries.is_sqlite() else POSTGRES_WRITERS
    reading = Reading(path, imp.encoding, imp.delimiter, list(imp.mapping), errors_path(imp), count)
    streams = Streams(BatchWriter(imp), count)
    try:
        with closing(_read_ahead(reading)) as batches:  # closing stops the reader if the import ends early
            for parts, done, failed in batches:
                streams.write(parts)
                if _progress(imp_id, done=done, imported=streams.written, failed=failed):
                    cancelled = True
                    break
    finally:
        streams.close()  # a cancelled import still writes the parts handed over: they count as imported
        db.session.rollback()  # after a failed batch, before the connection is used again
        queries.bulk_checkpoints(False)
    streams.raise_error()
    imported = streams.written
    # The line count was an estimate (quoted newlines, blank lines); a finished import knows.
    _progress(imp_id, done=done, imported=imported, failed=failed, finished_at=utcnow(),
              total=done if not cancelled else estimate,
              status=ImportStatus.CANCELLED if cancelled else ImportStatus.FINISHED)
    return {"imported": imported, "failed": failed}


def start(imp: Import, language: str = "en") -> None:
    """Queue the import job; only one import runs at a time, as in listmonk."""
    running = running_import()
    if running is not None and running.id != imp.id:
        raise ValidationError(_("Another import is running; wait for it or cancel it."))
    if imp.status != ImportStatus.PENDING:
        raise ValidationError(_("This import has already started."))
    imp.status = ImportStatus.QUEUED
    db.session.commit()
    # The job writes its row errors in the language of whoever started it.
    queues.queue(IMPORT_QUEUE).enqueue(run_import, imp.id, language, job_timeout=IMPORT_JOB_TIMEOUT)
