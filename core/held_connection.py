"""A database connection held open for one writer at a time, such as a group commit's leader (core/group_commit.py).

Flask's ``db.session`` takes a connection from the pool for each app context and gives it back at its end: on
PostgreSQL the pool pings the server before handing it out and resets it when it comes back. For a group of single
events that was most of the write (bench.events: 1,250–1,320 against 1,670–1,780 one-event POSTs a second held, on
this 2-core machine). A held connection skips both; one that failed (the server restarted, say) is replaced at the
next write, and the writer's callers fall back as they do on any database error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.db import db


class HeldConnection:
    """One connection of an app's engine, kept between writes; ``writing`` lends it to one writer at a time."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._connection: Connection | None = None
        self._lent = threading.Lock()  # a second writer at once would share a transaction: refuse, loudly

    @contextmanager
    def writing(self) -> Iterator[None]:
        """An app context of its own whose ``db.session`` runs on the held connection (opened when there is none,
        or when the last write failed on it); at the end the session is closed, a transaction left open rolled back.
        """
        if not self._lent.acquire(blocking=False):
            raise RuntimeError("HeldConnection.writing is for one writer at a time")
        try:
            with self.app.app_context():
                # SQLAlchemy's own Session: Flask-SQLAlchemy's picks an engine by the models' bind keys (Kairan has
                # none) and would not use the connection it is given.
                db.session.registry.set(Session(bind=self._usable()))  # type: ignore[arg-type]
                try:
                    yield
                except BaseException:
                    try:
                        db.session.remove()
                    finally:
                        self.release(invalidate=True)  # nothing about it is trusted after a failed write
                    raise
                db.session.remove()  # closes the session; the connection stays open
        finally:
            self._lent.release()

    def release(self, *, invalidate: bool = False) -> None:
        """Give the held connection back to the pool, or with ``invalidate`` close it for good (a write failed on
        it); the next write takes another."""
        connection, self._connection = self._connection, None
        if connection is not None:
            if invalidate:
                connection.invalidate()
            connection.close()

    def _usable(self) -> Connection:
        if self._connection is not None:
            return self._connection
        engine: Engine = db.engine
        if not event.contains(engine, "engine_disposed", self._on_disposed):
            event.listen(engine, "engine_disposed", self._on_disposed)  # tests dispose of theirs between apps
        self._connection = engine.connect()  # through the pool: pinged like any other
        return self._connection

    def _on_disposed(self, _engine: Engine) -> None:
        self.release()
