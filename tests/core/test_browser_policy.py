"""UI pages carry a content security policy and may not be framed; the public form may, by design."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import login

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
EMAIL_TEMPLATES = ("mailer/layouts/", "mailer/optin.html", "mailer/test_message.html")


@pytest.mark.parametrize("page", ["/login", "/", "/account/", "/users/", "/campaigns/", "/subscribers/", "/nowhere"])
def test_ui_pages_refuse_frames_and_load_script_only_from_kairan(client: FlaskClient, users: dict[str, str],
                                                                 page: str) -> None:
    login(client, "admin")
    response = client.get(page)
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy
    assert "'unsafe-eval'" not in policy and "object-src 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"


def test_message_previews_are_framed_by_kairan_only(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    response = client.get("/api/templates/1/preview")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "frame-ancestors 'self'" in policy
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_the_public_subscription_form_may_be_embedded(client: FlaskClient) -> None:
    response = client.get("/subscription/form")
    assert "frame-ancestors" not in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    # Other public pages are not meant to be framed.
    assert client.get("/archive").headers["X-Frame-Options"] == "DENY"


def test_no_page_template_has_inline_script_the_policy_would_block() -> None:
    """Inline <script> bodies, on… handlers and javascript: URLs would stop working under script-src 'self'."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.IGNORECASE)
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0).strip()}"
        for path in TEMPLATES.rglob("*.html") if not str(path.relative_to(TEMPLATES)).startswith(EMAIL_TEMPLATES)
        for match in inline.finditer(path.read_text())
    ]
    assert offenders == []
