"""Resend to non-openers, end to end: real workers, the capture SMTP server, and two days passed on the one clock.

A newsletter goes to ten readers. A person opens it, another clicks it, Apple's prefetch loads a third one's pixel
(a machine: nobody knows whether a person saw it), one reader unsubscribes, one message bounces hard, one soft, one
draws a complaint, and three readers do nothing. The editor makes the resend, with or without those only machines
opened; one of the three quiet readers opens the original before the resend starts. Two days later the workers start
the resend by themselves: it reaches exactly the two still quiet and, when chosen, Apple's reader; nobody who
opened, clicked, unsubscribed, bounced or complained.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core import clock
from core.db import db, utcnow
from lists.models import Subscriber
from mailer.models import Delivery
from mailer.outbox import Outbox
from tests.helpers import api_user, login, text_of, wait_until
from tests.mailer.helpers import Workers
from tests.tracking.helpers import APPLE_MPP, BROWSER, tracked
from tests.tracking.small_campaign import unsubscribe_paths
from tracking.bounce_parser import Failure, Intake, Kind, Verdict
from tracking.bounces import record

READERS = ("person", "clicker", "apple", "quiet", "still", "late", "leaver", "hard", "soft", "angry")
APPLE_IP = "17.58.63.12"  # Apple's MPP relays (17.0.0.0/8)
SUBJECT, RESEND_SUBJECT = "冬のセールのお知らせ", "【まだ間に合います】冬のセール"


def _status(api: FlaskClient, campaign_id: int) -> str:
    return str(api.get(f"/api/campaigns/{campaign_id}").get_json()["data"]["status"])


def _send_original(api: FlaskClient, capture: Outbox) -> int:
    list_id = api.post("/api/lists", json={"name": "お知らせ"}).get_json()["data"]["id"]
    for name in READERS:
        assert api.post("/api/subscribers", json={"email": f"{name}@example.jp", "name": name, "lists": [list_id],
                                                  "preconfirm_subscriptions": True}).status_code == 200
    campaign_id: int = api.post("/api/campaigns", json={
        "name": "冬号", "subject": SUBJECT, "content_type": "html", "lists": [list_id],
        "from_email": "回覧商事 <news@kairan.example>",
        "body": '<p>冬の<a href="https://shop.example.jp/sale">セール</a>のご案内です。</p>'}).get_json()["data"]["id"]
    assert api.put(f"/api/campaigns/{campaign_id}/status", json={"status": "running"}).status_code == 200
    wait_until(lambda: capture.count() == len(READERS) and _status(api, campaign_id) == "finished", timeout=60)
    return campaign_id


def _readers_act(app: Flask, capture: Outbox) -> None:
    """An hour after the send (no click looks like a scanner's), each reader does what the docstring says."""
    clock.move(app.config["KAIRAN"].redis_url, timedelta(hours=1))
    mail, unsubscribe = tracked(capture), unsubscribe_paths(capture)
    web = app.test_client()
    assert web.get(mail["person"][0], headers={"User-Agent": BROWSER}).status_code == 200
    assert web.get(mail["clicker"][1][0], headers={"User-Agent": BROWSER}).status_code == 302  # images off: no open
    assert web.get(mail["apple"][0], headers={"User-Agent": APPLE_MPP},
                   environ_base={"REMOTE_ADDR": APPLE_IP}).status_code == 200
    assert web.post(unsubscribe["leaver"], data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with app.app_context():
        ids = dict(db.session.execute(select(Subscriber.email, Delivery.message_id)
                                      .join(Delivery, Delivery.subscriber_id == Subscriber.id)).all())
        for name, verdict, status in (("hard", Verdict.HARD, "5.1.1"), ("soft", Verdict.SOFT, "4.2.2")):
            record(Intake(Kind.BOUNCE, failures=(Failure(f"{name}@example.jp", verdict, status, "550 no"),),
                          message_id=ids[f"{name}@example.jp"]), "smtp")
        record(Intake(Kind.COMPLAINT, complained=("angry@example.jp",), feedback_type="abuse",
                      message_id=ids["angry@example.jp"]), "smtp")


def _counts(api: FlaskClient, campaign_id: int) -> dict[str, int]:
    return dict(api.get(f"/api/campaigns/{campaign_id}/resend").get_json()["data"])


def _resent_to(capture: Outbox) -> set[str]:
    entries, _total = capture.page(1, 100)
    return {parseaddr(e.to)[1].split("@")[0] for e in entries if e.subject.endswith(RESEND_SUBJECT)}


@pytest.mark.parametrize("machine_openers", [False, True], ids=["people-only", "machine-openers-too"])
def test_a_resend_reaches_exactly_the_non_openers_and_the_machine_openers_chosen(
        moving: Flask, capture: Outbox, moved_workers: Workers, users: dict[str, str], machine_openers: bool) -> None:
    app = moving
    api = app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'news')}"
    original = _send_original(api, capture)
    _readers_act(app, capture)
    # The flusher (a job the pixel queued, run by the worker) stores the opens: then the form's two groups show.
    wait_until(lambda: _counts(api, original) == {"non_openers": 3, "machine_openers": 1}, timeout=30)

    made = api.post(f"/api/campaigns/{original}/resend", json={"subject": RESEND_SUBJECT,
                                                                "machine_openers": machine_openers})
    assert made.status_code == 200, made.get_json()
    resend: dict[str, Any] = made.get_json()["data"]
    assert (resend["status"], resend["resend_of"], resend["subject"]) == ("scheduled", original, RESEND_SUBJECT)
    with app.app_context():
        send_at = datetime.fromisoformat(resend["send_at"])
        assert timedelta(hours=47, minutes=59) < send_at - utcnow() <= timedelta(hours=48)  # the default, 48 h on
    # Late reads the original the next day, before the resend starts: its audience is fixed only then.
    clock.move(app.config["KAIRAN"].redis_url, timedelta(days=1))
    assert app.test_client().get(tracked(capture)["late"][0], headers={"User-Agent": BROWSER}).status_code == 200
    wait_until(lambda: _counts(api, original)["non_openers"] == 2, timeout=30)
    assert _status(api, resend["id"]) == "scheduled"  # nothing leaves before its time

    clock.move(app.config["KAIRAN"].redis_url, timedelta(days=1, minutes=1))
    expected = {"quiet", "still"} | ({"apple"} if machine_openers else set())
    wait_until(lambda: _status(api, resend["id"]) == "finished", timeout=60)
    assert _resent_to(capture) == expected
    assert api.get(f"/api/campaigns/{resend['id']}").get_json()["data"]["to_send"] == len(expected)
    mail = capture.get(next(e.key for e in capture.page(1, 100)[0] if e.subject.endswith(RESEND_SUBJECT)))
    assert mail is not None and "セール" in (mail.html or "")  # the original's content, copied
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in mail.raw  # a campaign like any other

    # Quiet opens the resend: the pair reached person, clicker, late (the original) and quiet (the resend).
    resent = {parseaddr(e.to)[1].split("@")[0]: e.key for e in capture.page(1, 100)[0]
              if e.subject.endswith(RESEND_SUBJECT)}
    pixel = tracked_pixel(capture, resent["quiet"])
    assert app.test_client().get(pixel, headers={"User-Agent": BROWSER}).status_code == 200
    page = app.test_client()
    login(page, "viewer")
    together = "Together: 4 of the original’s 10 recipients opened or clicked one of the two 40.0%"

    def shows_reach() -> bool:
        html = page.get(f"/campaigns/{original}/report", headers={"Accept-Language": "en"}).get_data(as_text=True)
        return together in text_of(html)
    wait_until(shows_reach, timeout=30)
    html = page.get(f"/campaigns/{original}/report", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f'href="/campaigns/{resend["id"]}/report"' in html and "data-resend-button" not in html
    html = page.get(f"/campaigns/{resend['id']}/report", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f'href="/campaigns/{original}/report"' in html and together in text_of(html)
    assert ("and to those only machines opened" in text_of(html)) is machine_openers
    # Once the resend has started, its audience is its own: the original can go, and the resend stays, unlinked.
    assert api.delete(f"/api/campaigns/{original}").status_code == 200
    assert api.get(f"/api/campaigns/{resend['id']}").get_json()["data"]["resend_of"] is None


def tracked_pixel(capture: Outbox, key: str) -> str:
    """The open pixel's path in one captured message."""
    message = capture.get(key)
    assert message is not None and message.html is not None
    start = message.html.index("/o/")
    return message.html[start:message.html.index('"', start)]
