"""Fixtures of the mailer's tests."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import api_user


@pytest.fixture
def editor(app: Flask) -> dict[str, str]:
    """API headers of an editor (the API user ``writer``)."""
    return {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}
