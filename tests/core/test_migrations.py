"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from core.db import db

pytestmark = pytest.mark.usefixtures("ctx")


def test_migrations_match_the_models(app: Flask) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, db.metadata)
    # Indexes and triggers that only raw SQL can express (trigram search, jsonb GIN) live in migrations alone.
    differences = [d for d in differences if not (isinstance(d, tuple) and d[0] in ("remove_index", "remove_table"))]
    assert differences == []
