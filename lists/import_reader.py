"""The import's reader: a process of its own reads the upload, checks each row and hands batches to the job.

Decoding, CSV parsing and address checks take a third of an import's time (SQLite writes in the
job's own process): the reader runs them on the second core while the job writes.
"""

from __future__ import annotations

import gc
import io
import json
import multiprocessing
import os
import threading
from collections.abc import Generator, Iterator
from datetime import datetime
from multiprocessing.connection import Connection
from typing import IO, Any, NamedTuple

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Engine

from core.db import db, json_text, new_uuid
from core.errors import ValidationError
from core.oneline import one_line
from core.safecsv import SafeWriter
from lists import import_files
from lists.addresses import address_key, normalise_email
from lists.csvfiles import rows
from lists.import_files import CHUNK_BYTES
from lists.models import ImportFile

# Good addresses per batch, written in one transaction (lists/import_job.py): on SQLite 20,000 took 7% less
# CPU than 5,000 (fewer, larger FTS5 segments to merge), and hold the write lock ~0.3 s.
BATCH_ROWS = 20_000
TRUE_WORDS = {"1", "true", "yes", "y", "on", "はい", "有", "○"}
FALSE_WORDS = {"0", "false", "no", "n", "off", "いいえ", "無", "×", ""}
NAME_FIELD = _l("Name")  # lazy: translated only for a row that is refused

# email_key -> (address, name, attributes as JSON text, uuid if new): one batch's subscribers, one per address.
Batch = dict[str, tuple[str, str, str, str]]
# What the reader hands over: a batch in parts (see Reading.streams), rows read, bad rows so far, and the
# bad-rows file's next bytes (the job appends them: the import's page lists bad rows while it runs).
Item = tuple[list[Batch], int, int, bytes]


class Reading(NamedTuple):
    """What the reader process needs to read an import's file (plain values)."""

    import_id: int
    encoding: str
    delimiter: str
    mapping: list[dict[str, Any]]
    streams: int  # the batches are read already split in this many parts, by address (lists/import_job.py Streams)


class RowError(Exception):
    """A row that cannot be imported; the message says why."""


def convert(value: str, kind: str, key: str) -> Any:
    """Return a cell as its column's type says (empty: None), or raise RowError saying why it is not one."""
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
                converted = convert(value, kind, key)
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


class BadRows:
    """The bad-rows file as the reader writes it (CSV, UTF-8 with BOM, for Excel), handed over in pieces."""

    def __init__(self) -> None:
        self.text = io.StringIO()
        self.text.write("\ufeff")
        self.writer = SafeWriter(self.text)  # =1+2 in a bad row stays text when the file is opened in Excel
        self.writer.writerow(["line", "reason", "row"])

    def add(self, line: int, reason: str, row: str) -> None:
        """Write one bad row."""
        self.writer.writerow([line, reason, row])

    def full(self) -> bool:
        """Tell whether a chunk's worth is waiting (a file of bad rows only must not pile up in memory)."""
        return self.text.tell() >= CHUNK_BYTES

    def take(self) -> bytes:
        """Return what was written since the last time, as bytes."""
        data = self.text.getvalue().encode()
        self.text.seek(0)
        self.text.truncate()
        return data


def _batches(reading: Reading, upload: IO[bytes]) -> Iterator[Item]:
    """Read and check the upload: yield (batch in reading.streams parts, rows read, bad rows, bad rows' bytes)
    every BATCH_ROWS good addresses, whenever a chunk of bad rows is waiting, and at the end."""
    parse = RowParser(reading.mapping)
    done = failed = size = 0
    parts: list[dict[str, tuple[str, str | None, dict[str, Any]]]] = [{} for _ in range(reading.streams)]
    bad = BadRows()
    records = rows(upload, reading.encoding, reading.delimiter)
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
            bad.add(line, str(error), reading.delimiter.join(row or []))
            if bad.full():
                yield [{} for _ in range(reading.streams)], done, failed, bad.take()
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
            yield [_stored(part) for part in parts], done, failed, bad.take()
            parts, size = [{} for _ in range(reading.streams)], 0
    yield [_stored(part) for part in parts], done, failed, bad.take()


def _stored(batch: dict[str, tuple[str, str | None, dict[str, Any]]]) -> Batch:
    """Return a batch as the writer stores it: the name defaults to the local part, attributes as JSON text,
    and a uuid for the subscriber it may create, made here because this process has CPU to spare."""
    return {key: (email, name or email.split("@")[0], json_text(attribs), new_uuid())
            for key, (email, name, attribs) in batch.items()}


def _read_file(reading: Reading, upload_fd: int, feeding_fd: int, sender: Connection) -> None:
    """Read and check the whole upload from a pipe, sending each batch to the writer (runs in the reader process)."""
    os.close(feeding_fd)  # the job's end of the pipe: this copy would keep the upload from ever ending
    # What this process inherited (the app, the worker's objects) is kept out of the collector's sight, as
    # `flask worker` does for itself (core/cli.py): otherwise each full collection that a batch's
    # allocations set off walks all of it again. The reader's CPU for 1M rows: 7.9 s, frozen 6.1 s.
    gc.freeze()
    try:
        with open(upload_fd, "rb") as upload:
            for item in _batches(reading, upload):
                sender.send(item)  # blocks while the writer is a batch behind: memory stays flat
        sender.send(None)
    except Exception as error:  # noqa: BLE001 - handed to the writer, which fails the import with it
        sender.send(RuntimeError(f"{type(error).__name__}: {error}"))
    finally:
        sender.close()


class _Feeder(threading.Thread):
    """Writes the upload's chunks from the database into the reader's pipe (a thread of the job's process)."""

    def __init__(self, engine: Engine, import_id: int, fd: int) -> None:
        super().__init__(name="import-feeder", daemon=True)
        self.engine, self.import_id, self.fd = engine, import_id, fd
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            # Each chunk read in a transaction of its own: one long read would keep SQLite from checkpointing.
            with open(self.fd, "wb") as pipe, \
                    self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                for chunk in import_files.read(self.import_id, ImportFile.UPLOAD, connection):
                    pipe.write(chunk)  # blocks while the reader is behind: memory stays flat
        except BrokenPipeError:
            pass  # the reader was stopped (a cancelled or failed import): nothing more to feed
        except BaseException as error:  # noqa: BLE001 - raised by read_ahead in the job's thread
            self.error = error


def read_ahead(reading: Reading) -> Generator[Item]:
    """Yield the upload's batches, read and checked by a second process while this one writes.

    The reader is forked, so it shares the app context and the locale bad rows are explained in.
    A fork copies only the thread that forks, and no lock another thread held, so the reader
    touches no database connection or Redis: the job's process feeds it the upload through a
    pipe, from a thread started after the fork. A cancelled import stops both.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    upload_fd, feeding_fd = os.pipe()
    reader = context.Process(target=_read_file, args=(reading, upload_fd, feeding_fd, sender), name="import-reader",
                             daemon=True)
    reader.start()
    sender.close()  # the reader holds the only sending end: its exit ends recv() with EOFError
    os.close(upload_fd)  # and the only reading end of the upload: its exit fails the feeder's writes
    feeder = _Feeder(db.engine, reading.import_id, feeding_fd)
    feeder.start()
    try:
        while True:
            try:
                item = receiver.recv()
            except EOFError:
                raise RuntimeError("The import's reader process ended before the end of the file.") from None
            if item is None:
                feeder.join()
                if feeder.error is not None:  # the reader saw the upload end early: not the file's end
                    raise feeder.error
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        receiver.close()
        if reader.is_alive():
            reader.kill()  # not terminate(): the reader inherited the worker's own SIGTERM handler
        reader.join()
        feeder.join()  # its writes fail once the reader is gone
