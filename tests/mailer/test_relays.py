"""SMTP relays against real aiosmtpd servers on loopback: weights, taking out and back, the test button, the API."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from html import unescape
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient

from core.db import db
from core.queues import redis
from mailer import relays, transport
from mailer.models import RelaySecurity, SMTPRelayConfig
from mailer.outbox import Outbox
from mailer.relays import Relay
from mailer.settings import SENDING
from mailer.smtp_transport import RelayTransport
from tests.helpers import api_user, error_summary, login, submit
from tests.mailer.helpers import SECRET, USER, Received
from tests.resources import free_port


def relay(port: int, key: str = "a", weight: int = 1, **options: Any) -> Relay:
    """A runtime relay on loopback."""
    return Relay(key=key, name=key, host="127.0.0.1", port=port, security=options.pop("security", RelaySecurity.NONE),
                 username=options.pop("username", None), password=options.pop("password", None), weight=weight,
                 **options)


def fail_connecting(target: Relay) -> None:
    """Try to connect as a sender would, and report the failure the way the send engine does."""
    with pytest.raises(OSError) as failure:
        target.connect(timeout=1)
    assert relays.is_relay_failure(failure.value)
    relays.report_failure(target)


def test_picking_follows_the_weights(ctx: None) -> None:
    light, heavy = relay(2501, "light", weight=1), relay(2502, "heavy", weight=3)
    rng = random.Random(20260101)  # noqa: S311  (seeded on purpose: the same picks every run)
    picks = [relays.pick([light, heavy], rng) for _ in range(4000)]
    share = sum(1 for p in picks if p is heavy) / len(picks)
    assert 0.72 < share < 0.78  # 3 / (1 + 3)


def test_a_relay_that_keeps_refusing_is_taken_out_for_a_while(
        ctx: None, smtp_server: Callable[..., tuple[int, Received]], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = current_app.config["KAIRAN"]  # half a second out, so the test sees it come back
    sending = replace(SENDING.of(settings), relay_take_out_seconds=0.5)
    monkeypatch.setitem(current_app.config, "KAIRAN", replace(settings, groups={**settings.groups, "sending": sending}))
    live_port, _handler = smtp_server()
    live, dead = relay(live_port, "live"), relay(free_port(), "dead", weight=1000)  # nothing listens on dead's port

    fail_connecting(dead)
    fail_connecting(dead)
    relays.report_success(dead)  # a success ends the run of failures
    fail_connecting(dead)
    fail_connecting(dead)
    relays._failing_here.clear()  # as in the next job, which RQ forks afresh: this one never saw a failure
    relays._reset_at.clear()
    relays.report_success(dead)  # ...yet its first success still ends the run
    fail_connecting(dead)
    fail_connecting(dead)
    assert relays.healthy([live, dead]) == [live, dead], "two in a row are not enough"
    fail_connecting(dead)
    assert relays.healthy([live, dead]) == [live]
    assert relays.taken_out_until([live, dead]).keys() == {"dead"}
    assert {relays.pick([live, dead]) for _ in range(50)} == {live}, "the others carry the mail"
    assert relays.pick([dead]) is None

    time.sleep(0.6)
    assert relays.healthy([live, dead]) == [live, dead], "back after the take-out"


def _save(data: dict[str, Any]) -> int:
    return relays.add_relay(data).id


def test_the_send_takes_a_relay_that_answers_and_says_so_when_all_are_out(
        ctx: None, smtp_server: Callable[..., tuple[int, Received]]) -> None:
    live_port, received = smtp_server()
    dead_id = _save({"host": "127.0.0.1", "port": free_port(), "weight": 1000, "name": "dead"})
    live_id = _save({"host": "127.0.0.1", "port": live_port, "weight": 1, "name": "live"})

    random.seed(1)  # the heavy dead relay comes first (as it does 1000 times in 1001 anyway)
    connection = RelayTransport()
    assert connection.open().key == str(live_id), "the dead one refused: the live one was tried"
    reply = connection.send(transport.Envelope("news@kairan.example", "a@example.jp"), b"Subject: hi\r\n\r\nhello\r\n")
    connection.close()
    assert reply.accepted and received.rcpt_tos == ["a@example.jp"]
    assert redis().get(f"kairan:relay:{dead_id}:failures") == b"1", "the relay that refused was counted"

    for config in relays.all_relays():
        for _attempt in range(relays.FAILURES_TO_TAKE_OUT):
            relays.report_failure(Relay.from_config(config))
    with pytest.raises(relays.AllRelaysOutError, match="Every SMTP relay is taken out"):
        RelayTransport().open()


def test_active_relays_are_the_enabled_ones_or_kairan_smtp_url(
        app: Flask, ctx: None, monkeypatch: pytest.MonkeyPatch) -> None:
    default = relays.active_relays()
    assert [(r.key, r.port) for r in default] == [("url", app.config["KAIRAN"].capture_port)]
    added = relays.add_relay({"host": "smtp.example.jp", "port": "587", "security": "starttls"})
    assert [(r.key, r.host, r.port, r.security) for r in relays.active_relays()] == [
        (str(added.id), "smtp.example.jp", 587, RelaySecurity.STARTTLS)]
    monkeypatch.setattr(relays, "CACHE_SECONDS", 60)
    relays.active_relays()
    db.session.execute(db.update(SMTPRelayConfig).values(enabled=False))  # behind the service's back
    db.session.commit()
    assert relays.active_relays()[0].key == str(added.id), "reused within CACHE_SECONDS"
    relays.update_relay(added, {"enabled": False})
    assert relays.active_relays()[0].key == "url", "a change through the service is seen at once"


def test_the_connection_test_explains_what_failed(ctx: None, smtp_server: Callable[..., tuple[int, Received]]) -> None:
    plain_port, _handler = smtp_server()
    auth_port, _auth_handler = smtp_server(auth=True)

    answered = relays.test_connection(relay(plain_port))
    assert answered.ok and answered.message == f"Connected to 127.0.0.1:{plain_port}: it answered EHLO and NOOP."

    closed = free_port()
    refused = relays.test_connection(relay(closed))
    assert not refused.ok and refused.message.startswith(f"127.0.0.1:{closed} refused the connection")

    wrong = relays.test_connection(relay(auth_port, username=USER, password="wrong"))
    assert not wrong.ok and "refused the user name or password: 535" in wrong.message

    logged_in = relays.test_connection(relay(auth_port, username=USER, password=SECRET))
    assert logged_in.ok and "accepted the login" in logged_in.message

    no_auth = relays.test_connection(relay(plain_port, username=USER, password=SECRET))
    assert not no_auth.ok and "does not offer authentication (AUTH)" in no_auth.message

    no_starttls = relays.test_connection(relay(plain_port, security=RelaySecurity.STARTTLS))
    assert not no_starttls.ok and no_starttls.message == f"127.0.0.1:{plain_port} does not offer STARTTLS."

    no_tls = relays.test_connection(relay(plain_port, security=RelaySecurity.TLS))  # it greets in plain text
    assert not no_tls.ok and no_tls.message.startswith(f"TLS with 127.0.0.1:{plain_port} failed: ")

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts the connection, never greets
        port = silent.getsockname()[1]
        quiet = relays.test_connection(relay(port), timeout=0.3)
    assert not quiet.ok and quiet.message == f"127.0.0.1:{port} did not answer within 0.3 seconds."


def test_admins_manage_relays_through_the_api_and_never_see_passwords(
        app: Flask, client: FlaskClient, smtp_server: Callable[..., tuple[int, Received]]) -> None:
    auth_port, _handler = smtp_server(auth=True)
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    created = client.post("/api/relays", headers=admin, json={
        "name": "本社", "host": "127.0.0.1", "port": auth_port, "username": USER, "password": SECRET,
        "weight": 5, "max_connections": 2, "rate_per_second": 14}).get_json()["data"]
    assert created["has_password"] is True and created["security"] == "none" and created["enabled"] is True
    assert (created["weight"], created["max_connections"], created["rate_per_second"]) == (5, 2, 14)
    with app.app_context():
        stored = relays.get_relay(created["id"])
        assert SECRET not in stored.password, "kept encrypted"
        assert Relay.from_config(stored).password == SECRET

    relay_url = f"/api/relays/{created['id']}"
    tested = client.post(f"{relay_url}/test", headers=admin).get_json()["data"]
    assert tested["ok"] is True, tested["message"]

    changed = client.put(relay_url, headers=admin, json={"weight": 2, "password": ""}).get_json()["data"]
    assert changed["weight"] == 2 and changed["name"] == "本社" and changed["has_password"] is True
    everything = [client.get("/api/relays", headers=admin).get_data(as_text=True),
                  client.get(relay_url, headers=admin).get_data(as_text=True), str(created), str(changed)]
    assert not any(SECRET in answer for answer in everything)

    client.put(relay_url, headers=admin, json={"password": "wrong"})
    assert client.post(f"{relay_url}/test", headers=admin).get_json()["data"]["ok"] is False

    editor = {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}
    assert client.get("/api/relays", headers=editor).status_code == 403
    assert client.delete(relay_url, headers=admin).get_json() == {"data": True}
    assert client.get(relay_url, headers=admin).get_json() == {"message": "SMTP relay not found."}

    document = client.get("/api/openapi.json").get_json()
    assert {"/api/relays", "/api/relays/{relay_id}", "/api/relays/{relay_id}/test"} <= set(document["paths"])
    assert "password" in document["components"]["schemas"]["RelayInput"]["properties"]


@pytest.mark.parametrize(("body", "message"), [
    ({}, "Enter the relay's host name or IP address."),
    ({"host": "  "}, "Enter the relay's host name or IP address."),
    ({"host": "smtp://mail.example.jp"}, "smtp://mail.example.jp is not a host name or IP address"),
    ({"host": "mail.example.jp", "port": 0}, "port must be a whole number from 1 to 65535."),
    ({"host": "mail.example.jp", "port": 65536}, "port must be a whole number from 1 to 65535."),
    ({"host": "mail.example.jp", "port": "abc"}, "port must be a whole number from 1 to 65535."),
    ({"host": "mail.example.jp", "port": 25.5}, "port must be a whole number from 1 to 65535."),
    ({"host": "mail.example.jp", "port": True}, "port must be a whole number from 1 to 65535."),
    ({"host": "mail.example.jp", "max_connections": 0}, "max_connections must be a whole number from 1 to 100."),
    ({"host": "mail.example.jp", "max_connections": 101}, "max_connections must be a whole number from 1 to 100."),
    ({"host": "mail.example.jp", "weight": 0}, "weight must be a whole number from 1 to 1000."),
    ({"host": "mail.example.jp", "weight": 1001}, "weight must be a whole number from 1 to 1000."),
    ({"host": "mail.example.jp", "rate_per_second": 0}, "rate_per_second must be a whole number from 1 to 100000."),
    ({"host": "mail.example.jp", "rate_per_second": -5}, "rate_per_second must be a whole number from 1 to 100000."),
    ({"host": "mail.example.jp", "security": "ssl"}, "security must be one of: none, starttls, tls."),
    ({"host": "mail.example.jp", "name": "x" * 101}, "name can be at most 100 characters."),
])
def test_bad_relay_settings_are_refused_with_the_reason(app: Flask, client: FlaskClient, body: dict[str, Any],
                                                       message: str) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    response = client.post("/api/relays", headers=admin, json=body)
    assert response.status_code == 400
    assert response.get_json()["message"].startswith(message)
    assert client.get("/api/relays", headers=admin).get_json() == {"data": []}


def test_good_relay_settings_are_normalised(ctx: None) -> None:
    added = relays.add_relay({"host": " mail.example.jp ", "port": "５８７", "rate_per_second": "",
                              "security": "tls", "username": "", "password": "ignored without a user"})
    assert (added.name, added.host, added.port, added.rate_per_second) == ("mail.example.jp", "mail.example.jp", 587,
                                                                            None)
    assert (added.max_connections, added.weight, added.password) == (4, 1, ""), "defaults; no user, no password"


def shown(client: FlaskClient) -> str:
    """The relays page, with the message the last action left."""
    return str(client.get("/settings/relays/").get_data(as_text=True))


def test_admins_add_and_test_relays_in_the_ui(app: Flask, client: FlaskClient, users: dict[str, str],
                                              smtp_server: Callable[..., tuple[int, Received]],
                                              capture: Outbox) -> None:
    login(client, "admin")
    assert "KAIRAN_SMTP_URL" in client.get("/settings/relays/").get_data(as_text=True)
    submit(client, "/settings/relays/", "/settings/relays/default/test")
    assert f"Connected to 127.0.0.1:{app.config['KAIRAN'].capture_port}" in shown(client)

    bad = submit(client, "/settings/relays/new", host="mail.example.jp", port="99999", weight="1",
                 max_connections="4", security="none", rate_per_second="0")
    assert bad.status_code == 400
    html = unescape(bad.get_data(as_text=True))  # every bad field at once, each named by its label
    assert error_summary(html)[1] == [
        ("port", "Port must be a whole number from 1 to 65535."),  # a message naming its field is not prefixed
        ("rate_per_second", "Messages per second (empty: no limit) must be a whole number from 1 to 100000.")]
    assert 'value="mail.example.jp"' in html and 'value="99999"' in html  # what was typed is kept

    port, _handler = smtp_server()
    added = submit(client, "/settings/relays/new", name="社内リレー", host="127.0.0.1", port=str(port),
                   security="none", weight="3", max_connections="2", rate_per_second="", enabled="y")
    assert added.status_code == 302
    page = client.get("/settings/relays/").get_data(as_text=True)
    assert "社内リレー" in page and f"127.0.0.1:{port}" in page and "in service" in page
    submit(client, "/settings/relays/", "/settings/relays/1/test")
    assert f"Connected to 127.0.0.1:{port}: it answered EHLO and NOOP." in shown(client)

    with app.app_context():
        for _attempt in range(relays.FAILURES_TO_TAKE_OUT):
            relays.report_failure(Relay.from_config(relays.get_relay(1)))
    assert "taken out until" in client.get("/settings/relays/").get_data(as_text=True)

    submit(client, "/settings/relays/", "/settings/relays/1/delete")
    assert "Relay 社内リレー deleted." in shown(client)
    editor = app.test_client()
    login(editor, "editor")
    assert editor.get("/settings/relays/").status_code == 403
