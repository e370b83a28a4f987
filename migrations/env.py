"""Alembic environment: migrate the database of the Flask app that runs `flask db ...`."""

from __future__ import annotations

from alembic import context
from flask import current_app

from core.db import db

config = context.config
target_metadata = db.metadata


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Write Kairan's UTCDateTime as the plain column type it creates, so migrations import no app code."""
    from core.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Keep autogenerate away from the indexes migration 0006 made by hand (no model describes them)."""
    if type_ == "table":
        return not (name or "").startswith("subscriber_search")  # SQLite's FTS5 table and its shadow tables
    return not (type_ == "index" and name in ("ix_subscribers_search", "ix_subscribers_attribs"))


def run_migrations_offline() -> None:
    """Write the SQL instead of running it (``flask db upgrade --sql``)."""
    context.configure(url=str(db.engine.url), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the app's engine (core.db asks for batch mode, so ALTERs work on SQLite)."""
    with db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode remakes a table by copying it and dropping the old one, and with foreign keys on, SQLite's
            # DROP TABLE deletes first: every row referring to it by ON DELETE CASCADE went too (0030 remade
            # campaigns and emptied tracking_events). Off for the run, checked after it.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # no transaction open: the migrations' own (0023's autocommit block) begin theirs
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_item=render_item,
            include_name=include_name,
            **current_app.extensions["migrate"].configure_args,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")  # the connection goes back to the pool
            connection.commit()
            if broken:
                raise RuntimeError(f"The migrations left rows whose references are broken: {broken[:10]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
