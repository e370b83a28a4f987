"""A receiver that fails: retried with growing waits (the moved clock, a real worker), switched off after three
days with a notice on the dashboard, enabled again and replayed from the log; one that is down for a while gets
everything once back, in order for each subscriber."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from flask import Flask
from sqlalchemy import select

from core import clock
from core.db import db
from tests.helpers import api_user, login, wait_until
from tests.mailer.helpers import Workers
from tests.webhooks.receiver import Receiver
from webhooks.delivery import RETRY_FOR, wait_after
from webhooks.models import Attempt, Endpoint, OutboxMessage


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """Waiting messages looked for every second, as the moved clock makes them due."""
    return {**settings_env, "KAIRAN_WEBHOOK_DISPATCH_SECONDS": "1"}


def attempts(app: Flask) -> list[Attempt]:
    with app.app_context():
        found = list(db.session.scalars(select(Attempt).order_by(Attempt.id)))
        db.session.expunge_all()
        return found


def test_a_failing_receiver_is_retried_then_switched_off_then_replayed(
        moving: Flask, moved_workers: Workers, receiver: Receiver, users: dict[str, str]) -> None:
    client = moving.test_client()
    admin = {"Authorization": f"token {api_user(moving, 'admin', 'boss')}"}
    redis_url = moving.config["KAIRAN"].redis_url
    endpoint = client.post("/api/webhooks", headers=admin, json={
        "url": receiver.url, "event_types": ["subscriber.created"]}).get_json()["data"]
    receiver.secret, receiver.status = endpoint["secret"], 500
    assert client.post("/api/subscribers", headers=admin, json={"email": "taro@example.jp"}).status_code == 200
    wait_until(lambda: len(attempts(moving)) == 1, 120)  # the worker may take a while to start

    started = clock.now()
    tries = 1
    while True:
        with moving.app_context():
            state = db.session.get(Endpoint, endpoint["id"])
            assert state is not None
            if not state.enabled:
                break
        assert tries < 30, "never switched off"
        # Just before the wait ends nothing is sent; once it ended, the worker's dispatch sends it again.
        clock.move(redis_url, wait_after(tries) - timedelta(seconds=2))
        assert len(attempts(moving)) == tries
        clock.move(redis_url, timedelta(seconds=3))
        tries += 1
        wait_until(lambda tries=tries: len(attempts(moving)) == tries, 30)  # type: ignore[misc]

    log = attempts(moving)
    assert all(a.status == 500 and a.response_body == "broken" for a in log)
    assert clock.now() - started >= RETRY_FOR and len(log) == len(receiver.received) == tries
    assert len({r.msg_id for r in receiver.received}) == 1  # the same message each time, the same webhook-id
    gaps = [(later.at - earlier.at).total_seconds() for earlier, later in pairwise(log)]
    # 5 s, 20 s, 80 s … (×4 each time, never more than 8 h apart), plus the real seconds the worker took to look
    for number, gap in enumerate(gaps, start=1):
        assert wait_after(number).total_seconds() <= gap <= wait_after(number).total_seconds() + 15
    assert wait_after(99) == timedelta(hours=8)
    with moving.app_context():
        assert db.session.scalars(select(OutboxMessage.state)).all() == ["failed"]

    # The dashboard says so, and links to the endpoint.
    page = moving.test_client()
    login(page, "admin")
    dashboard = page.get("/").get_data(as_text=True)
    assert "was switched off" in dashboard and f"/settings/webhooks/{endpoint['id']}" in dashboard
    assert "Switched off on" in page.get(f"/settings/webhooks/{endpoint['id']}").get_data(as_text=True)

    # Fixed: enabled again (the notice goes), the last request replayed: it arrives with its webhook-id.
    receiver.status = 200
    assert client.put(f"/api/webhooks/{endpoint['id']}", headers=admin, json={"enabled": True}).status_code == 200
    assert "was switched off" not in page.get("/").get_data(as_text=True)
    replayed = client.post(f"/api/webhooks/{endpoint['id']}/attempts/{log[-1].id}/replay", headers=admin)
    assert replayed.get_json() == {"data": {"queued": 1}}
    wait_until(lambda: len(receiver.events()) == 1, 30)
    assert receiver.received[-1].msg_id == receiver.received[0].msg_id
    assert receiver.events()[0]["data"]["subscriber"]["email"] == "taro@example.jp"


def test_a_receiver_down_for_a_while_gets_everything_in_order_once_back(
        moving: Flask, moved_workers: Workers, receiver: Receiver) -> None:
    client = moving.test_client()
    admin = {"Authorization": f"token {api_user(moving, 'admin', 'boss')}"}
    redis_url = moving.config["KAIRAN"].redis_url
    endpoint = client.post("/api/webhooks", headers=admin, json={
        "url": receiver.url, "event_types": ["subscriber.created", "subscriber.updated"]}).get_json()["data"]
    receiver.secret, receiver.status = endpoint["secret"], 503
    names = ("taro", "hanako", "jiro", "saburo")
    for name in names:
        made = client.post("/api/subscribers", headers=admin, json={"email": f"{name}@example.jp"}).get_json()
        for turn in range(3):
            assert client.put(f"/api/subscribers/{made['data']['id']}", headers=admin, json={
                "email": f"{name}@example.jp", "name": f"{name}{turn}"}).status_code == 200
    wait_until(lambda: len(receiver.received) >= 1, 120)  # the worker may take a while to start
    clock.move(redis_url, timedelta(minutes=10))  # down for ten minutes: a few retries, all refused
    wait_until(lambda: len(receiver.received) >= 2, 30)
    receiver.status = 200
    for _ in range(10):  # back: the next retries (the longest wait is under an hour by now) deliver everything
        if len(receiver.events()) == len(names) * 4:
            break
        clock.move(redis_url, timedelta(minutes=30))
        wait_until(lambda: any(r.answered == 200 for r in receiver.received), 30)
    wait_until(lambda: len(receiver.events()) == len(names) * 4, 30)
    events = receiver.events()
    assert len({e["data"]["subscriber"]["id"] for e in events}) == len(names)
    for name in names:  # in the order they happened, for each subscriber
        mine = [e["data"]["subscriber"]["name"] for e in events if e["data"]["subscriber"]["email"].startswith(name)]
        assert mine == [name, f"{name}0", f"{name}1", f"{name}2"]
    delivered = [r.msg_id for r in receiver.received if r.answered == 200]
    assert len(delivered) == len(set(delivered))  # none twice
