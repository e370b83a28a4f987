"""The CSV import job: merges duplicates, writes batches with upserts, counts and keeps bad rows.

The upload is read and checked in a process of its own (lists/import_reader.py) while this one writes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from contextlib import closing
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update

from core import audit, queues
from core.db import commit_without_waiting_for_disk, db, utcnow
from core.signals import import_ended
from lists import import_files, queries
from lists.consent_evidence import coded
from lists.errors import ImportRunningError, ImportStartedError, UploadGoneError
from lists.import_reader import Batch, Reading, read_ahead
from lists.imports import ENDED, get_import, running_import
from lists.models import (
    ConsentMethod,
    Import,
    ImportFile,
    ImportKind,
    ImportMode,
    ImportStatus,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from lists.queues import IMPORT_QUEUE

IMPORT_JOB_TIMEOUT = 6 * 3600  # seconds; a large file at tens of thousands of rows a second is minutes
# PostgreSQL works each connection's statements in a server process of its own, and its index
# upkeep is most of an import's time: a batch is written in this many parts at once, each in its
# own transaction on its own connection, so the server uses both cores. SQLite has one writer.
POSTGRES_WRITERS = 2
# How each kind of import is run once started; automations adds customer events (automations/__init__.py). One
# job, whatever the kind: cancelling, failing and deleting the upload are the same for all.
RUNNERS: dict[ImportKind, Callable[[Import], dict[str, int]]] = {}


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


def save_progress(imp_id: int, bad_rows: bytes = b"", **values: Any) -> bool:
    """Save progress, with the bad rows' next bytes; return whether a cancel was asked for."""
    import_files.append(imp_id, ImportFile.BAD_ROWS, bad_rows)
    db.session.execute(update(Import).where(Import.id == imp_id).values(**values))
    if values.get("status") in ENDED:
        import_ended.send(import_id=imp_id)  # one event for the file: its rows are not announced one by one
        # A bulk UPDATE, which the audit log's row hook does not see: recorded here
        name = db.session.scalar(select(Import.file_name).where(Import.id == imp_id))
        audit.record(f"import.{ImportStatus(values['status']).value}", audit.Target("import", imp_id, name))
    db.session.commit()
    return bool(db.session.scalar(select(Import.cancel_requested).where(Import.id == imp_id)))


def run_import(import_id: int, language: str = "en") -> dict[str, int]:
    """Import one CSV file (an RQ job); errors propagate after the import is marked failed.

    However it ends, its upload is deleted: it holds personal data nobody needs any more.
    """
    with force_locale(language):
        imp = get_import(import_id)
        try:
            if imp.cancel_requested:
                save_progress(import_id, status=ImportStatus.CANCELLED, finished_at=utcnow())
                return {"imported": 0, "failed": 0}
            try:
                if not import_files.exists(import_id, ImportFile.UPLOAD):
                    raise UploadGoneError(_("The uploaded file is no longer kept. Upload it again."))
                save_progress(import_id, status=ImportStatus.IMPORTING, started_at=utcnow())
                return RUNNERS.get(imp.kind, _run)(imp)
            except Exception as error:
                db.session.rollback()
                save_progress(import_id, status=ImportStatus.FAILED, finished_at=utcnow(), error=str(error)[:2000])
                raise
        finally:
            import_files.remove(import_id, ImportFile.UPLOAD)
            db.session.commit()


def _run(imp: Import) -> dict[str, int]:
    imp_id, estimate = imp.id, imp.total
    done = failed = 0
    cancelled = False
    count = 1 if queries.is_sqlite() else POSTGRES_WRITERS
    reading = Reading(imp_id, imp.encoding, imp.delimiter, list(imp.mapping), count)
    streams = Streams(BatchWriter(imp), count)
    try:
        with closing(read_ahead(reading)) as batches:  # closing stops the reader if the import ends early
            for parts, done, failed, bad_rows in batches:
                streams.write(parts)
                if save_progress(imp_id, bad_rows, done=done, imported=streams.written, failed=failed):
                    cancelled = True
                    break
    finally:
        streams.close()  # a cancelled import still writes the parts handed over: they count as imported
        db.session.rollback()  # after a failed batch, before the connection is used again
        queries.bulk_checkpoints(False)
    streams.raise_error()
    imported = streams.written
    # The line count was an estimate (quoted newlines, blank lines); a finished import knows.
    save_progress(imp_id, done=done, imported=imported, failed=failed, finished_at=utcnow(),
              total=done if not cancelled else estimate,
              status=ImportStatus.CANCELLED if cancelled else ImportStatus.FINISHED)
    return {"imported": imported, "failed": failed}


def start(imp: Import, language: str = "en") -> None:
    """Queue the import job; only one import runs at a time, as in listmonk."""
    running = running_import(imp.kind)
    if running is not None and running.id != imp.id:
        raise ImportRunningError(_("Another import is running; wait for it or cancel it."))
    if imp.status != ImportStatus.PENDING:
        raise ImportStartedError()
    imp.status = ImportStatus.QUEUED
    db.session.commit()
    # The job writes its row errors in the language of whoever started it.
    queues.queue(IMPORT_QUEUE).enqueue(run_import, imp.id, language, job_timeout=IMPORT_JOB_TIMEOUT)
