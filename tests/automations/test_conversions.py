"""Conversions end to end: campaigns really sent (RQ worker, capture SMTP server), clicked through the real redirect,
purchases posted to the events API, attributed by the worker's job on the moved clock; on SQLite and PostgreSQL.

Who does what (campaign A first, then B; every click an hour after the send, as a person unless said):
- taro clicks A and buys for 3,980 yen: A's conversion and revenue; eight days later he buys again: past the window.
- hanako's click on A is a link scanner's: her purchase converts nothing.
- jiro clicks A, then B: his purchase is B's (the last click wins).
- goro never clicked, but his shop checkout sends back shiro's kairan_c (shiro clicked A): A's, directly.
- rokuro sends a kairan_c forged from shiro's to name another delivery: nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from automations.conversions import attribute
from core import clock
from core.db import db
from core.queues import queue
from lists.models import Subscriber
from mailer.models import Delivery
from mailer.outbox import Outbox
from tests.helpers import api_user, run_jobs
from tests.tracking.helpers import BROWSER, SCANNER, send_to_readers, tracked
from tracking.flush import flush_events
from tracking.metric_queries import conversions_by_delivery
from tracking.metrics import campaign_metrics
from tracking.models import Conversion

READERS = ["taro", "hanako", "jiro", "goro", "shiro", "rokuro"]
BODY = '<p><a href="https://shop.example.jp/sale?from=mail#top">セール会場へ</a></p>'


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The installation adds kairan_c to its links."""
    return {**settings_env, "KAIRAN_CONVERSION_PARAMETER": "on"}


def send_again(app: Flask, client: FlaskClient, first: int, name: str) -> int:
    """A second campaign to the first one's lists, really sent; its id."""
    headers = {"Authorization": f"token {api_user(app, 'admin', 'second')}"}
    lists = [item["id"] for item in client.get(f"/api/campaigns/{first}", headers=headers).get_json()["data"]["lists"]]
    campaign_id: int = client.post("/api/campaigns", headers=headers, json={
        "name": name, "subject": name, "content_type": "html", "lists": lists, "body": BODY}).get_json()["data"]["id"]
    client.put(f"/api/campaigns/{campaign_id}/status", headers=headers, json={"status": "running"})
    run_jobs(app)
    return campaign_id


def click(app: Flask, path: str, agent: str = BROWSER) -> str:
    """Follow a tracked link as this user agent; return where the redirect sent the reader. The click is flushed
    before the test moves the clock (a flush reads the clock's offset when it runs, not when the reader clicked)."""
    answer = app.test_client().get(path, headers={"User-Agent": agent})
    assert answer.status_code == 302
    with app.app_context():
        flush_events()
    return str(answer.headers["Location"])


def attribute_now(app: Flask) -> None:
    """Let the events settle, then have a worker run the attribution job (as its periodic run would)."""
    clock.move(app.config["KAIRAN"].redis_url, timedelta(seconds=10))
    with app.app_context():
        queue().enqueue(attribute)
    run_jobs(app)


def attributed(app: Flask) -> dict[str, tuple[int, str, int | None, str | None, str | None]]:
    """Each conversion by the buyer's name: (campaign, via, amount, currency, problem), attributed by a worker."""
    attribute_now(app)
    with app.app_context():
        found = {name: (c.campaign_id, c.via, c.amount, c.currency, c.problem) for name, c in db.session.execute(
            select(Subscriber.name, Conversion).join(Subscriber, Subscriber.id == Conversion.subscriber_id))}
        db.session.remove()
        return found


def buy(shop: FlaskClient, name: str, order: str, **properties: Any) -> dict[str, Any]:
    answer = shop.post("/api/events", json={"email": f"{name}@example.jp", "name": "purchase",
                                            "idempotency_key": order, "properties": properties})
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json()["data"])


def test_purchases_go_to_the_last_click_by_a_person_within_the_window_or_to_a_signed_kairan_c(
        moving: Flask, capture: Outbox) -> None:
    app, client = moving, moving.test_client()
    first = send_to_readers(app, client, READERS, name="春のセール", body=BODY)
    links_a = tracked(capture)
    capture.clear()
    clock.move(app.config["KAIRAN"].redis_url, timedelta(hours=1))
    second = send_again(app, client, first, "夏のセール")
    links_b = tracked(capture)
    clock.move(app.config["KAIRAN"].redis_url, timedelta(hours=1))

    landed = click(app, links_a["taro"][1][0])
    token = parse_qs(urlsplit(landed).query)["kairan_c"][0]
    assert landed == f"https://shop.example.jp/sale?from=mail&kairan_c={token}#top"  # the link's own query kept
    click(app, links_a["hanako"][1][0], SCANNER)
    click(app, links_a["jiro"][1][0])
    clock.move(app.config["KAIRAN"].redis_url, timedelta(minutes=5))
    click(app, links_b["jiro"][1][0])
    shiros = parse_qs(urlsplit(click(app, links_a["shiro"][1][0])).query)["kairan_c"][0]
    delivery, signature = shiros.rsplit("-", 1)
    forged = f"{int(delivery, 16) + 1:x}-{signature}"  # the next delivery, with shiro's signature

    clock.move(app.config["KAIRAN"].redis_url, timedelta(minutes=20))
    shop = app.test_client()
    shop.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'shop')}"
    assert buy(shop, "taro", "T-1", amount=3980, currency="JPY") == {
        "stored": [0], "duplicates": [], "errors": [], "warnings": []}
    buy(shop, "hanako", "H-1", amount=1200)
    buy(shop, "jiro", "J-1", amount="2500")  # a price as text, as many shops send it
    buy(shop, "goro", "G-1", amount=500, kairan_c=shiros)
    buy(shop, "rokuro", "R-1", amount=700, kairan_c=forged)
    assert attributed(app) == {"taro": (first, "click", 3980, "JPY", None),
                               "jiro": (second, "click", 2500, "JPY", None),
                               "goro": (first, "parameter", 500, "JPY", None)}

    clock.move(app.config["KAIRAN"].redis_url, timedelta(days=8))  # taro buys again, past the 7-day window
    buy(shop, "taro", "T-2", amount=990)
    assert "taro" in attributed(app) and len(attributed(app)) == 3
    with app.app_context():
        metrics = campaign_metrics(first)
        assert (metrics.conversions, metrics.converted, metrics.revenue, metrics.currency) == (2, 2, 4480.0, "JPY")
        assert metrics.conversion_rate == 2 / 6 and metrics.revenue_per_recipient == 4480 / 6
        taro = db.session.scalar(select(Delivery.id).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                                 .where(Delivery.campaign_id == first, Subscriber.name == "taro"))
        shiro = int(delivery, 16)
        assert conversions_by_delivery(first) == {taro: 1, shiro: 1}
        assert campaign_metrics(second).revenue == 2500.0


def test_each_bad_amount_is_stored_and_counts_as_a_conversion_without_revenue_saying_why(
        moving: Flask, capture: Outbox) -> None:
    app, client = moving, moving.test_client()
    campaign = send_to_readers(app, client, ["taro"], name="春のセール", body=BODY)
    clock.move(app.config["KAIRAN"].redis_url, timedelta(hours=1))
    click(app, tracked(capture)["taro"][1][0])
    shop = app.test_client()
    shop.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'shop')}"
    said = {}
    for order, properties in (("1", {"amount": "3,980円"}), ("2", {"amount": -500}), ("3", {"amount": 100, "currency":
                              "YEN"}), ("4", {"amount": 100.5}), ("5", {"amount": True}), ("6", {"amount": 19.99,
                              "currency": "usd"}), ("7", {})):
        outcome = buy(shop, "taro", order, **properties)
        assert outcome["stored"] == [0]  # every one is stored as the shop sent it
        said[order] = [(w["field"], w["message"]) for w in outcome["warnings"]]
    assert said == {
        "1": [("properties.amount", "amount is not a number: no revenue is counted for this event.")],
        "2": [("properties.amount", "amount is negative: no revenue is counted for this event.")],
        "3": [("properties.currency", "currency is not an ISO 4217 code: no revenue is counted for this event.")],
        "4": [("properties.amount", "amount has more decimals than its currency: no revenue is counted for this "
                                    "event.")],
        "5": [("properties.amount", "amount is not a number: no revenue is counted for this event.")],
        "6": [], "7": []}
    attribute_now(app)
    with app.app_context():
        rows = db.session.execute(select(Conversion.amount, Conversion.currency, Conversion.problem)
                                  .order_by(Conversion.event_id)).all()
        assert [tuple(row) for row in rows] == [
            (None, "JPY", "amount_not_a_number"), (None, "JPY", "amount_negative"), (None, None, "unknown_currency"),
            (None, "JPY", "amount_too_precise"), (None, "JPY", "amount_not_a_number"), (1999, "USD", None),
            (None, None, None)]
        metrics = campaign_metrics(campaign)
        assert (metrics.conversions, metrics.converted, metrics.revenue) == (7, 1, 0.0)
    editor = app.test_client()
    editor.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'viewer', 'reader')}"
    report = editor.get(f"/api/campaigns/{campaign}/report").get_json()["data"]
    assert report["revenue"] == [{"currency": "USD", "amount": 19.99}]
    assert report["no_revenue"] == [{"problem": p, "conversions": n} for p, n in (
        ("amount_negative", 1), ("amount_not_a_number", 2), ("amount_too_precise", 1), ("unknown_currency", 1))]
