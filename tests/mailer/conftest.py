"""Fixtures of the mailer's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.helpers import api_user
from tests.mailer.helpers import Workers


@pytest.fixture
def editor(app: Flask) -> dict[str, str]:
    """API headers of an editor (the API user ``writer``)."""
    return {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}


@pytest.fixture
def workers(app: Flask, settings_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    """Real worker processes with the test's settings, stopped at the end. On PostgreSQL a worker needs
    KAIRAN_SECRET_KEY: the test app's own, as a deployment's machines share one."""
    pool = Workers({**settings_env, "KAIRAN_SECRET_KEY": app.config["SECRET_KEY"]}, tmp_path)
    yield pool
    pool.stop_all()
