"""Fixtures of the automations' tests."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import api_user


@pytest.fixture
def shop(app: Flask) -> FlaskClient:
    """A client that calls the API as the shop's integration (an editor API user)."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'shop')}"
    return client
