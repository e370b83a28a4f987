"""core.held_connection: one connection kept between writes, replaced after a write that failed."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.db import db
from core.held_connection import HeldConnection

# A temporary table: only the connection that made it sees it.
MAKE_NOTES = text("CREATE TEMPORARY TABLE held_notes (note TEXT)")
NOTE = text("INSERT INTO held_notes VALUES (:note)")


def notes() -> list[str]:
    return list(db.session.scalars(text("SELECT note FROM held_notes ORDER BY note")))


def test_writes_share_one_connection_until_one_fails(app: Flask) -> None:
    held = HeldConnection(app)
    with held.writing():
        db.session.execute(MAKE_NOTES)
        db.session.execute(NOTE, {"note": "first"})
        db.session.commit()
    with held.writing():  # the same connection: its temporary table is there
        db.session.execute(NOTE, {"note": "second"})  # left uncommitted: rolled back
    with held.writing():
        assert notes() == ["first"]
    with pytest.raises(ZeroDivisionError), held.writing():
        db.session.execute(NOTE, {"note": "third"})
        raise ZeroDivisionError
    with held.writing(), pytest.raises(SQLAlchemyError):  # a new connection: no such table
        notes()
    with held.writing():
        db.session.execute(text("SELECT 1"))  # the write that failed was replaced again
    held.release()


def test_one_writer_at_a_time(app: Flask) -> None:
    held = HeldConnection(app)
    with held.writing(), pytest.raises(RuntimeError, match="one writer at a time"), held.writing():
        pass
    with held.writing():  # free again
        db.session.execute(text("SELECT 1"))
    held.release()


def test_the_engine_disposed_closes_it(app: Flask) -> None:
    held = HeldConnection(app)
    with held.writing():
        db.session.execute(MAKE_NOTES)
        db.session.commit()
    with app.app_context():
        db.engine.dispose()
    with held.writing(), pytest.raises(SQLAlchemyError):
        notes()
    held.release()
