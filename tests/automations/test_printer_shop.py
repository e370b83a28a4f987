"""The printer shop, end to end: real workers, the capture SMTP server, and time moved by the one clock.

A customer buys a printer; thirty days later, unless they bought ink since, they get a reminder; a person opens
and clicks it, and their ink purchase ends the run as a conversion (and is the reminder's conversion and revenue).
The shop's second customer bought ink on day 10 and gets nothing. Nobody sleeps through the month: the clock
moves, and a worker wakes the runs that fell due.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from automations import lifecycle
from automations.models import Run, RunState, RunStep, StepCount
from core import clock
from core.db import db
from lists.models import Subscriber
from lists.segment_rules import compile_rule
from mailer.models import Delivery
from mailer.outbox import Outbox
from tests.helpers import api_user, wait_until
from tests.mailer.helpers import Workers
from tests.tracking.helpers import BROWSER, tracked

PRINTER: dict[str, object] = {"category": "printer", "product_name": "PX-105 インクジェットプリンター"}
INK: dict[str, object] = {"category": "ink", "product_name": "PX-105 用インク 4色パック", "amount": 4980}


def reminder(campaign_id: int) -> dict[str, object]:
    """The post-purchase reminder: purchase of a printer → 30 days → no ink since → reminder → ink bought: goal."""
    ink = {"key": "category", "op": "eq", "value": "ink"}
    return {
        "trigger": {"kind": "event", "event": "purchase", "property": {"key": "category", "op": "eq",
                                                                       "value": "printer"}},
        "entry": {"mode": "every_time", "dedupe_property": "order_id"},
        "start": "month",
        "steps": {
            "month": {"type": "wait", "mode": "duration", "days": 30, "next": "no_ink"},
            "no_ink": {"type": "condition", "yes": "remind", "no": None, "rule": {
                "field": "event", "op": "did_not", "value": {"name": "purchase", "within_days": 30, "property": ink}}},
            "remind": {"type": "send", "campaign_id": campaign_id, "next": "buys_ink"},
            "buys_ink": {"type": "wait_event", "event": "purchase", "property": ink, "days": 30, "next": "bought",
                         "timeout": None},
            "bought": {"type": "goal"},
        },
    }


def runs(app: Flask) -> dict[str, tuple[RunState, str]]:
    """Each customer's run, by the local part of their address: (state, step)."""
    with app.app_context():
        found = {email.split("@")[0]: (state, step) for email, state, step in db.session.execute(
            select(Subscriber.email, Run.state, Run.step).join(Subscriber, Subscriber.id == Run.subscriber_id))}
        db.session.remove()
        return found


def test_the_printer_buyer_is_reminded_and_converts_and_the_ink_buyer_gets_nothing(
        moving: Flask, capture: Outbox, moved_workers: Workers) -> None:
    app, settings = moving, moving.config["KAIRAN"]
    client: FlaskClient = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'shop')}"
    with app.app_context():
        automation = lifecycle.create_automation("プリンター購入後のインクのご案内")
        message = lifecycle.new_message(automation, "インクのご案内", "{{ subscriber.name }}様、インクは足りていますか",
                                        body='<p>{{ event.properties.product_name }}をお使いいただき'
                                             'ありがとうございます。<a href="https://shop.example.jp/ink">インクを買う</a></p>',
                                        from_email="shop@kairan.example")
        lifecycle.update_automation(automation, draft=reminder(message.id))
        lifecycle.activate(automation)
        automation_id, message_id = automation.id, message.id
    for email, name in (("hanako@example.jp", "花子"), ("jiro@example.jp", "次郎")):
        client.post("/api/subscribers", json={"email": email, "name": name})

    def buy(email: str, order: str, product: dict[str, object]) -> None:
        answer = client.post("/api/events", json={"email": email, "name": "purchase", "idempotency_key": order,
                                                  "properties": {**product, "order_id": order}})
        assert answer.status_code == 200, answer.get_json()

    buy("hanako@example.jp", "A-1", PRINTER)
    buy("jiro@example.jp", "B-1", PRINTER)
    wait_until(lambda: runs(app) == {"hanako": (RunState.WAITING, "month"), "jiro": (RunState.WAITING, "month")},
               timeout=30)

    clock.move(settings.redis_url, timedelta(days=10))
    buy("jiro@example.jp", "B-2", INK)  # day 10: Jiro buys ink
    clock.move(settings.redis_url, timedelta(days=20, minutes=1))  # day 30: the month is up
    wait_until(lambda: runs(app) == {"hanako": (RunState.WAITING, "buys_ink"), "jiro": (RunState.COMPLETED, "no_ink")},
               timeout=30)
    wait_until(lambda: capture.count() == 1, timeout=30)
    entry = capture.page(1, 10)[0][0]
    assert entry.to.endswith("<hanako@example.jp>") or "hanako@example.jp" in entry.to
    mail = capture.get(entry.key)
    assert mail is not None
    assert "PX-105 インクジェットプリンター" in (mail.html or "")  # the trigger event's properties
    assert "大阪市北区1-2-3" in (mail.html or "")  # the law's footer, as every campaign's
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in mail.raw

    clock.move(settings.redis_url, timedelta(hours=2))  # she reads it later that day, as a person
    pixel, links = tracked(capture)["hanako"]
    reader = app.test_client()
    reader.get(pixel, headers={"User-Agent": BROWSER})
    assert reader.get(links[0], headers={"User-Agent": BROWSER}).status_code == 302
    buy("hanako@example.jp", "A-2", INK)
    wait_until(lambda: runs(app)["hanako"] == (RunState.CONVERTED, "bought"), timeout=30)

    with app.app_context():
        counts = {c.step: c for c in db.session.scalars(select(StepCount).join(
            Run, Run.version_id == StepCount.version_id).where(Run.automation_id == automation_id).distinct())}
        assert (counts["month"].entered, counts["month"].passed) == (2, 2)
        assert (counts["no_ink"].entered, counts["no_ink"].passed) == (2, 2)
        assert counts["remind"].sent == 1
        assert counts["bought"].converted == 1
        history = [(s.step, s.outcome) for s in db.session.scalars(
            select(RunStep).join(Run, Run.id == RunStep.run_id).where(Run.subscriber_id == select(
                Delivery.subscriber_id).scalar_subquery()).order_by(RunStep.id))]
        assert history == [("month", "passed"), ("no_ink", "yes"), ("remind", "sent"), ("buys_ink", "event"),
                           ("bought", "converted")]
    wait_until(lambda: _opened_and_clicked(app), timeout=30)  # tracking's flush: a person opened and clicked
    with app.app_context():  # the behaviour rules read an automation's message as any campaign's
        clicked = {"field": "clicked", "op": "did", "value": {"campaign_id": message_id}}
        assert list(db.session.scalars(select(Subscriber.email).where(compile_rule(clicked)))) == ["hanako@example.jp"]
    # Her ink purchase after her click is the reminder's conversion, with its revenue (a worker attributes it); Jiro's
    # on day 10 followed no click.
    def reminded() -> dict[str, object]:
        steps = client.get(f"/api/automations/{automation_id}/stats").get_json()["data"]["steps"]
        return next(step for step in steps if step["step"] == "remind")

    wait_until(lambda: reminded()["conversions"] == 1, timeout=30)
    assert reminded()["revenue"] == 4980.0


def _opened_and_clicked(app: Flask) -> bool:
    with app.app_context():
        delivery = db.session.scalars(select(Delivery).where(Delivery.run_id != 0)).one()
        db.session.remove()
        return delivery.first_open_at is not None and delivery.first_click_at is not None
