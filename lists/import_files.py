"""An import's files (its upload and its bad rows), kept in the database in chunks.

The web machine that takes an upload, the worker that imports it and the web machine that shows
its bad rows may each be another machine with a data folder of its own: the database is what
they all reach. A file is written and read one chunk at a time, so even the largest upload
never sits whole in a process's memory. Every file of an import goes with it (a foreign key
with ON DELETE CASCADE); lists/imports.py says how long each is kept.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import IO, Any

from sqlalchemy import ColumnElement, Connection, Select, delete, func, insert, select
from sqlalchemy.orm import Session

from core.db import db
from lists.models import ImportChunk, ImportFile

# A megabyte per row: few rows for a large file, and little memory for each one read or written.
CHUNK_BYTES = 1024 * 1024


def chunks_of(stream: IO[bytes]) -> Iterator[bytes]:
    """Yield a stream's bytes a chunk at a time."""
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def save(import_id: int, file: ImportFile, chunks: Iterable[bytes]) -> None:
    """Write a file from its chunks, in the caller's transaction (the caller commits)."""
    seq = 0
    for chunk in chunks:
        if chunk:  # an empty row would read as the file's end
            _insert(import_id, file, seq, chunk)
            seq += 1


def append(import_id: int, file: ImportFile, data: bytes) -> None:
    """Add bytes at a file's end, in the caller's transaction (one writer per file: the import's job)."""
    if data:
        last = db.session.scalar(select(func.max(ImportChunk.seq)).where(*_of(import_id, file)))
        _insert(import_id, file, 0 if last is None else last + 1, data)


def _insert(import_id: int, file: ImportFile, seq: int, data: bytes) -> None:
    # A Core insert: the ORM would keep every chunk in the session until the commit.
    db.session.execute(insert(ImportChunk).values(import_id=import_id, file=file, seq=seq, data=data))


def read(import_id: int, file: ImportFile, source: Session | Connection | None = None) -> Iterator[bytes]:
    """Yield a file's chunks in order, one query each (no file: nothing).

    ``source`` is the session by default; the thread that feeds the import's reader passes a connection of its own.
    """
    scalar = db.session.scalar if source is None else source.scalar
    seq = 0
    while (chunk := scalar(select(ImportChunk.data).where(*_of(import_id, file), ImportChunk.seq == seq))) is not None:
        yield chunk
        seq += 1


def open_file(import_id: int, file: ImportFile, source: Session | Connection | None = None) -> io.BufferedReader:
    """Return a file as a binary stream, read chunk by chunk (no file: an empty stream)."""
    return io.BufferedReader(_ChunkStream(read(import_id, file, source)), buffer_size=CHUNK_BYTES)


def exists(import_id: int, file: ImportFile) -> bool:
    """Tell whether an import has this file."""
    return db.session.scalar(select(ImportChunk.seq).where(*_of(import_id, file), ImportChunk.seq == 0)) is not None


def remove(import_ids: int | Select[Any], file: ImportFile) -> None:
    """Delete a file of one import, or of every import selected, in the caller's transaction."""
    chosen = ImportChunk.import_id == import_ids if isinstance(import_ids, int) \
        else ImportChunk.import_id.in_(import_ids)
    db.session.execute(delete(ImportChunk).where(chosen, ImportChunk.file == file))


def _of(import_id: int, file: ImportFile) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return ImportChunk.import_id == import_id, ImportChunk.file == file


class _ChunkStream(io.RawIOBase):
    """A raw binary stream over chunks (io.BufferedReader and io.TextIOWrapper read it as a file)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self.left:
            self.left = memoryview(next(self.chunks, b""))
        size = min(len(buffer), len(self.left))
        buffer[:size] = self.left[:size]
        self.left = self.left[size:]
        return size
