"""A small campaign really sent (RQ worker, capture SMTP): its readers open, click, unsubscribe, bounce, complain."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from core.db import db, utcnow
from lists.models import Subscriber
from mailer.models import Delivery
from mailer.outbox import Outbox
from tests.helpers import api_user, run_jobs
from tests.tracking.helpers import APPLE_MPP, BROWSER, GMAIL_PROXY, tracked
from tracking.bounce_parser import Failure, Intake, Kind, Verdict
from tracking.bounces import record

SALE, NEW = "https://shop.example.jp/sale?utm=mail&x=1", "https://shop.example.jp/new"

READERS = ("ann@gmail.com", "ben@gmail.com", "cat@icloud.com", "dan@docomo.ne.jp", "eve@docomo.ne.jp")


@dataclass(frozen=True)
class Sent:
    """The sent campaign: its id, each reader's (pixel path, click paths) and unsubscribe path, by the part before @."""

    campaign_id: int
    paths: dict[str, tuple[str, list[str]]]
    unsubscribe: dict[str, str]


def unsubscribe_paths(capture: Outbox) -> dict[str, str]:
    """Each captured message's unsubscribe link (the path the live server answers), by the reader's name."""
    found = {}
    for entry in capture.page(1, 50)[0]:
        html = capture.get(entry.key).html or ""  # type: ignore[union-attr]
        link = re.search(r'href="http://[^/"]+(/u/[^"]+)"', html)
        assert link, entry.to
        found[parseaddr(entry.to)[1].split("@")[0]] = link[1].replace("&amp;", "&")
    return found


def send_small_campaign(app: Flask, client: FlaskClient, capture: Outbox) -> Sent:
    """Send a two-link campaign to READERS, an hour ago (so no click looks like a scanner's)."""
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    list_id = client.post("/api/lists", headers=headers, json={"name": "お知らせ"}).get_json()["data"]["id"]
    for email in READERS:
        client.post("/api/subscribers", headers=headers, json={
            "email": email, "name": email.split("@")[0], "lists": [list_id], "preconfirm_subscriptions": True})
    body = (f'<h1>秋のセール</h1><p><a href="{SALE.replace("&", "&amp;")}">セール会場へ</a></p>'
            f'<p>新着は<a href="{NEW}">こちら</a>から。</p>')
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "計測", "subject": "お知らせ", "content_type": "html", "lists": [list_id], "body": body,
    }).get_json()["data"]
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    run_jobs(app)
    with app.app_context():
        db.session.execute(update(Delivery).values(sent_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    return Sent(campaign["id"], {name.split("@")[0]: paths for name, paths in tracked(capture).items()},
                unsubscribe_paths(capture))


def behave(app: Flask, client: FlaskClient, sent: Sent) -> None:
    """ann opens (Gmail's proxy) and clicks the sale; ben clicks what's new, then unsubscribes (one-click);
    Apple prefetches cat's mail; dan's mail bounces (hard); eve complains."""
    paths = sent.paths
    assert client.get(paths["ann"][0], headers={"User-Agent": GMAIL_PROXY}).status_code == 200
    assert client.get(paths["ann"][1][0], headers={"User-Agent": BROWSER}).status_code == 302
    assert client.get(paths["ben"][1][1], headers={"User-Agent": BROWSER}).status_code == 302
    assert client.get(paths["cat"][0], headers={"User-Agent": APPLE_MPP}).status_code == 200
    assert client.post(sent.unsubscribe["ben"], data={"List-Unsubscribe": "One-Click"}).status_code == 200
    run_jobs(app)  # the flush the first request queued
    with app.app_context():
        ids = dict(db.session.execute(select(Subscriber.email, Delivery.message_id)
                                      .join(Delivery, Delivery.subscriber_id == Subscriber.id)).all())
        record(Intake(Kind.BOUNCE, failures=(Failure("dan@docomo.ne.jp", Verdict.HARD, "5.1.1", "550 unknown user"),),
                      message_id=ids["dan@docomo.ne.jp"]), "smtp")
        record(Intake(Kind.COMPLAINT, complained=("eve@docomo.ne.jp",), feedback_type="abuse",
                      message_id=ids["eve@docomo.ne.jp"]), "smtp")
