"""The outbox: a message is written with its change, so a Redis that lost the delivery job loses nothing (the
periodic dispatch finds it); a change rolled back sends nothing; no endpoint wanting a type writes nothing."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

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
