"""Fixtures of the automations' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from core import clock
from core.db import db
from tests.helpers import api_user


@pytest.fixture
def shop(app: Flask) -> FlaskClient:
    """A client that calls the API as the shop's integration (an editor API user)."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'shop')}"
    return client


@pytest.fixture
def moving(app: Flask, settings_env: dict[str, str]) -> Iterator[Flask]:
    """The installation with the movable clock on, as its workers run it (made after ``app``, whose clock is the
    system's: the clock is the process's, and the last app made sets it)."""
    moved = create_app({**settings_env, "TESTING": True, "KAIRAN_MOVABLE_CLOCK": "true"})
    yield moved
    with moved.app_context():
        db.engine.dispose()
    clock.use_system()
