"""The capture server and the Outbox: real SMTP on loopback, a real RQ worker for test sends."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker

from app import create_app
from core.db import db
from core.queues import queue, redis
from mailer.capture import start_capture
from mailer.outbox import Outbox
from mailer.queues import TX_QUEUE
from tests.helpers import login, submit


@pytest.fixture
def capture_port(app: Flask) -> Iterator[int]:
    """Run the capture server on the app's capture port; yield the port."""
    settings = app.config["KAIRAN"]
    controller = start_capture(Outbox.folder(settings.data_dir), settings.capture_port)
    yield settings.capture_port
    controller.stop()


def send(port: int, subject: str, html: str | None = None, to: str = "taro@example.jp") -> None:
    message = EmailMessage()
    message["From"] = "news@example.com"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("本文のテキスト\n")
    if html:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.send_message(message)


def first_message_key(listing: str) -> str:
    """Return the key of the first message linked from the Outbox page."""
    match = re.search(r'href="/outbox/([^"/]+)"', listing)
    assert match, "no message in the Outbox listing"
    return match.group(1)


def test_captured_mail_is_listed_and_shown_three_ways(client: FlaskClient, users: dict[str, str],
                                                      capture_port: int) -> None:
    send(capture_port, "10月のお知らせ", html="<p>こんにちは <script>alert(1)</script></p>")
    login(client, "viewer")
    listing = client.get("/outbox/").get_data(as_text=True)
    assert "10月のお知らせ" in listing and "taro@example.jp" in listing and "news@example.com" in listing
    key = first_message_key(listing)
    page = client.get(f"/outbox/{key}").get_data(as_text=True)
    assert "本文のテキスト" in page  # plain text
    assert "Return-Path: &lt;news@example.com&gt;" in page  # raw source with the envelope
    # Same origin so the page can size the frame to the message, and never a script: the message's own never runs.
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox allow-same-origin"' in page
    html = client.get(f"/outbox/{key}/html")
    assert "こんにちは" in html.get_data(as_text=True)
    policy = html.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox") and "allow-scripts" not in policy and "script-src 'none'" in policy


def test_unknown_or_malicious_keys_are_404(client: FlaskClient, users: dict[str, str], capture_port: int) -> None:
    login(client, "viewer")
    for key in ("does-not-exist", "..%2F..%2Fsecret_key", "a b"):
        assert client.get(f"/outbox/{key}").status_code == 404, key
        assert client.get(f"/outbox/{key}/html").status_code == 404, key


def test_message_without_html_shows_text_only(client: FlaskClient, users: dict[str, str], capture_port: int) -> None:
    send(capture_port, "plain only")
    login(client, "viewer")
    key = first_message_key(client.get("/outbox/").get_data(as_text=True))
    assert 'id="tab-html"' not in client.get(f"/outbox/{key}").get_data(as_text=True)
    assert client.get(f"/outbox/{key}/html").status_code == 404


def test_empty_outbox_says_what_to_do(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    page = client.get("/outbox/").get_data(as_text=True)
    assert "The Outbox is empty." in page and "Send test" in page


def test_test_message_goes_through_a_worker_to_the_capture_server(app: Flask, client: FlaskClient,
                                                                  users: dict[str, str], capture_port: int) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"  # a Japanese browser, on every request
    login(client, "editor")
    response = submit(client, "/outbox/", "/outbox/test", to="hanako@example.jp")
    assert response.status_code == 302
    with app.app_context():
        assert queue(TX_QUEUE).count == 1
        SimpleWorker([queue(TX_QUEUE)], connection=redis()).work(burst=True)
        assert queue(TX_QUEUE).count == 0
    outbox = Outbox(Outbox.folder(app.config["KAIRAN"].data_dir))
    entries, total = outbox.page(1, 20)
    assert total == 1 and entries[0].to == "hanako@example.jp"
    assert entries[0].subject == "Kairanのテストメール"  # in the sender's language
    message = outbox.get(entries[0].key)
    assert message is not None and message.html and message.text


def test_a_test_message_through_a_relay_says_where_it_goes(app: Flask, settings_env: dict[str, str],
                                                          users: dict[str, str]) -> None:
    relayed = create_app({**settings_env, "KAIRAN_SMTP_URL": "smtp://127.0.0.1:1", "TESTING": True})
    client = relayed.test_client()
    login(client, "editor")
    submit(client, "/outbox/", "/outbox/test", to="hanako@example.jp")
    page = client.get("/outbox/").get_data(as_text=True)
    assert "Test message to hanako@example.jp queued: a worker sends it through the relay in KAIRAN_SMTP_URL." in page
    assert "Reload in a moment" not in page  # nothing will appear in the Outbox
    with relayed.app_context():
        db.engine.dispose()


def test_clearing_the_outbox(app: Flask, client: FlaskClient, users: dict[str, str], capture_port: int) -> None:
    send(capture_port, "one")
    send(capture_port, "two")
    login(client, "editor")
    response = submit(client, "/outbox/", "/outbox/clear")
    assert response.status_code == 302
    assert "2 captured messages deleted." in client.get("/outbox/").get_data(as_text=True)
    assert Outbox(Outbox.folder(Path(app.config["KAIRAN"].data_dir))).count() == 0


def test_smtp_health_follows_the_capture_server(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "viewer")

    def smtp() -> dict[str, object]:
        return client.get("/api/health/detail").get_json()["data"]["components"]["smtp"]

    assert not smtp()["ok"]
    settings = app.config["KAIRAN"]
    controller = start_capture(Outbox.folder(settings.data_dir), settings.capture_port)
    try:
        assert smtp()["ok"] and smtp()["detail"] == f"127.0.0.1:{settings.capture_port}"
    finally:
        controller.stop()


def test_links_in_the_html_preview_open_in_a_new_tab() -> None:
    from mailer.views import with_new_tab_links

    assert with_new_tab_links("<html><head><title>x</title></head><body><a href='/x'>x</a></body></html>") == (
        "<html><head><base target=\"_blank\"><title>x</title></head><body><a href='/x'>x</a></body></html>")
    assert with_new_tab_links("<p>no head</p>") == '<base target="_blank"><p>no head</p>'
