"""The outbox: a message is written with its change, so a Redis that lost the delivery job loses nothing (the
periodic dispatch finds it); a change rolled back sends nothing; no endpoint wanting a type writes nothing."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from app import create_app
from core.db import db
from core.queues import redis
from lists.models import Subscriber
from tests.helpers import api_user, run_jobs
from tests.webhooks.receiver import Receiver
from webhooks.delivery import dispatch
from webhooks.models import OutboxMessage


def test_a_delivery_job_redis_lost_is_found_by_the_dispatch(app: Flask, client: FlaskClient,
                                                            receiver: Receiver) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    made = client.post("/api/webhooks", headers=admin, json={"url": receiver.url,
                                                              "event_types": ["subscriber.created"]})
    receiver.secret = made.get_json()["data"]["secret"]
    assert client.post("/api/subscribers", headers=admin, json={"email": "taro@example.jp"}).status_code == 200
    with app.app_context():
        redis().flushall()  # Redis restarted empty: the queued delivery job is gone
    run_jobs(app)
    assert receiver.received == []
    with app.app_context():
        dispatch()  # what a worker runs every KAIRAN_WEBHOOK_DISPATCH_SECONDS
    run_jobs(app)
    assert [e["data"]["subscriber"]["email"] for e in receiver.events()] == ["taro@example.jp"]


def test_a_change_rolled_back_writes_nothing_and_unwanted_types_are_not_written(
        app: Flask, client: FlaskClient, receiver: Receiver) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    client.post("/api/webhooks", headers=admin, json={"url": receiver.url, "event_types": ["subscriber.created"]})
    with app.app_context():
        db.session.add(Subscriber(email="hanako@example.jp", email_key="hanako@example.jp", name="花子", attribs={}))
        db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    list_id = client.post("/api/lists", headers=admin, json={"name": "お知らせ"}).get_json()["data"]["id"]
    client.post("/api/subscribers", headers=admin, json={"email": "jiro@example.jp", "lists": [list_id]})
    with app.app_context():  # created is wanted; its subscription's change and consent record are not
        assert db.session.scalars(select(OutboxMessage.event_type)).all() == ["subscriber.created"]


def test_a_host_asks_for_the_endpoints_once_per_change_and_takes_another_hosts_change(
        app: Flask, client: FlaskClient, receiver: Receiver, settings_env: dict[str, str]) -> None:
    other = create_app({**settings_env, "TESTING": True})  # another host: the same database, its own memory
    asked: list[str] = []
    with other.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: asked.append(statement) if "FROM webhook_endpoints" in statement
                     else None)
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    there = other.test_client()
    assert there.post("/api/subscribers", headers=admin, json={"email": "before@example.jp"}).status_code == 200
    made = client.post("/api/webhooks", headers=admin, json={"url": receiver.url,
                                                              "event_types": ["subscriber.created"]})
    receiver.secret = made.get_json()["data"]["secret"]
    asked.clear()
    for n in range(3):
        assert there.post("/api/subscribers", headers=admin, json={"email": f"n{n}@example.jp"}).status_code == 200
    assert len(asked) == 1  # read once after the change, then held
    run_jobs(app)
    assert sorted(e["data"]["subscriber"]["email"] for e in receiver.events()) == [f"n{n}@example.jp" for n in range(3)]
    client.put(f"/api/webhooks/{made.get_json()['data']['id']}", headers=admin, json={"enabled": False})
    there.post("/api/subscribers", headers=admin, json={"email": "after@example.jp"})
    with app.app_context():  # switched off on this host: the other stops writing at its next request
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 3
    with other.app_context():
        db.engine.dispose()
