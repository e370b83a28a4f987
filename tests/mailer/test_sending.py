"""Sending a campaign through real RQ workers to the capture SMTP server: who gets what, once."""

from __future__ import annotations

import email
import email.policy
import re
import smtplib

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.db import db
from core.tokens import Mark, mark_token, read_mark_token
from lists.consent_evidence import describe
from lists.models import ConsentRecord, Subscriber, Subscription, SubscriptionStatus
from mailer.models import Delivery
from mailer.outbox import Outbox
from tests.helpers import api_user, run_jobs
from tests.mailer.helpers import audience
from tracking.bounce_parser import Failure, Intake, Kind, Verdict
from tracking.bounces import record
from tracking.inbound import start_inbound
from tracking.models import Bounce


def test_a_campaign_reaches_each_recipient_once_personalised_with_the_list_headers(
        app: Flask, client: FlaskClient, capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "11月号", "subject": "{{ subscriber.name }}様へ", "content_type": "html", "lists": lists,
        "from_email": "回覧商事 <news@kairan.example>",
        "body": '<p>{{ subscriber.name }}様</p><a href="https://shop.example.jp/sale">セール</a>'}).get_json()["data"]
    started = client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    assert started.get_json()["data"]["status"] == "running" and started.get_json()["data"]["to_send"] == 2
    run_jobs(app)
    entries, total = capture.page(1, 10)
    assert total == 2 and sorted(e.to for e in entries) == ['佐藤 花子 <hanako@example.jp>',
                                                            '山田 太郎 <taro..yamada.@docomo.ne.jp>']
    for entry in entries:
        raw = capture.get(entry.key).raw  # type: ignore[union-attr]
        message = email.message_from_string(raw, policy=email.policy.default)
        name = "山田 太郎" if "docomo" in entry.to else "佐藤 花子"
        if "docomo" in entry.to:
            assert '<"taro..yamada."@docomo.ne.jp>' in raw  # the carrier's legacy form goes out quoted
        assert message["Subject"] == f"{name}様へ"
        assert f"{name}様" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Unsubscribe"].startswith("<http") and message["List-Id"].endswith(".kairan.example>")
        assert message["Feedback-ID"].endswith(":kairan:kairan.example") and message["Message-ID"]
        # VERP: bounces come back to an address naming this delivery, on the bounce domain.
        local, _at, bounce_domain = message["Return-Path"].strip("<>").partition("@")
        assert bounce_domain == "bounce.kairan.example" and local.startswith("bounce+")
        with app.app_context():
            assert read_mark_token(Mark.BOUNCE, local.removeprefix("bounce+")) is not None
        # Tracked: the link goes through the redirect to the stored URL, and the pixel is there.
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        click = re.search(r'href="http://[^/"]+(/c/[0-9a-f-]+)"', html)
        pixel = re.search(r'src="http://[^/"]+(/o/[0-9a-f-]+\.gif)"', html)
        assert click and pixel and "shop.example.jp" not in html
        followed = client.get(click[1])
        assert followed.status_code == 302 and followed.headers["Location"] == "https://shop.example.jp/sale"
        seen = client.get(pixel[1])
        assert seen.status_code == 200 and seen.mimetype == "image/gif" and "no-store" in seen.headers["Cache-Control"]
    stats = client.get(f"/api/campaigns/{campaign['id']}", headers=headers).get_json()["data"]
    assert (stats["status"], stats["sent"], stats["failed"]) == ("finished", 2, 0)


def test_a_paused_campaign_sends_nothing_until_resumed(app: Flask, client: FlaskClient, capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "一時停止", "subject": "お知らせ", "content_type": "plain", "lists": lists,
        "body": "{{ subscriber.name }}様"}).get_json()["data"]
    url = f"/api/campaigns/{campaign['id']}/status"
    assert client.put(url, headers=headers, json={"status": "paused"}).status_code == 400  # a draft cannot pause
    client.put(url, headers=headers, json={"status": "running"})
    client.put(url, headers=headers, json={"status": "paused"})
    run_jobs(app)
    assert capture.page(1, 10)[1] == 0
    assert client.put(url, headers=headers, json={"status": "running"}).get_json()["data"]["to_send"] == 2
    run_jobs(app)
    assert capture.page(1, 10)[1] == 2  # each once: resuming queues only what is unsent
    assert client.get(f"/api/campaigns/{campaign['id']}", headers=headers).get_json()["data"]["status"] == "finished"


def test_a_forged_or_foreign_tracking_token_gets_a_neutral_page_and_the_pixel_answers_anyway(
        app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        real = mark_token(Mark.CLICK, 1, 1)
        forged = real[:-1] + ("0" if real[-1] != "0" else "1")
        pixel_token = mark_token(Mark.OPEN, 1)
    for token in (forged, pixel_token.replace("-", "-1-", 1), "../../etc", "zz-zz", real):  # real: no such delivery
        answer = client.get(f"/c/{token}")
        assert answer.status_code == 404 and "Location" not in answer.headers
    assert client.get("/c/1-1-0123456789abcdef?url=https://evil.example").status_code == 404
    for token in ("nonsense", forged, pixel_token):
        gif = client.get(f"/o/{token}.gif")
        assert gif.status_code == 200 and gif.data.startswith(b"GIF89a")
    with app.app_context():  # a token made for the pixel does not open the redirect, and the other way round
        assert read_mark_token(Mark.CLICK, pixel_token) is None and read_mark_token(Mark.OPEN, real) is None


def test_a_campaigns_pace_and_quiet_hours_are_checked_and_kept(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "夜間停止", "subject": "お知らせ", "content_type": "plain", "body": "本文"}).get_json()["data"]
    url = f"/api/campaigns/{campaign['id']}"
    refusals = {  # what each bad value gets
        "rate_per_minute 0": ({"rate_per_minute": 0}, "rate_per_minute must be a whole number from 1 to"),
        "rate_per_minute text": ({"rate_per_minute": "fast"}, "rate_per_minute must be a whole number from 1 to"),
        "an hour past 23": ({"quiet_start": "25:00", "quiet_end": "08:00"}, "quiet_start must be a time such as"),
        "a start alone": ({"quiet_start": "22:00"}, "Quiet hours need both a start and an end"),
    }
    for case, (fields, message) in refusals.items():
        answer = client.put(url, headers={**headers, "Accept-Language": "en"}, json=fields)
        assert answer.status_code == 400 and message in answer.get_json()["message"], case
    saved = client.put(url, headers=headers, json={"rate_per_minute": 600, "quiet_start": "22:00",
                                                   "quiet_end": "8:00"}).get_json()["data"]
    assert (saved["rate_per_minute"], saved["quiet_start"], saved["quiet_end"]) == (600, "22:00", "08:00")
    cleared = client.put(url, headers=headers, json={"rate_per_minute": None, "quiet_start": "",
                                                     "quiet_end": ""}).get_json()["data"]
    assert (cleared["rate_per_minute"], cleared["quiet_start"], cleared["quiet_end"]) == (None, None, None)


def test_a_campaign_is_deleted_with_its_deliveries_but_never_while_it_runs(
        app: Flask, client: FlaskClient, capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}", "Accept-Language": "en"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "削除", "subject": "お知らせ", "content_type": "plain", "lists": lists,
        "body": "本文"}).get_json()["data"]
    url = f"/api/campaigns/{campaign['id']}"
    client.put(f"{url}/status", headers=headers, json={"status": "running"})
    refused = client.delete(url, headers=headers)
    assert refused.status_code == 400 and "pause or cancel it first" in refused.get_json()["message"]
    client.put(f"{url}/status", headers=headers, json={"status": "cancelled"})
    assert client.delete(url, headers=headers).get_json() == {"data": True}
    gone = client.get(url, headers=headers)  # listmonk answers 400 for an unknown id
    assert gone.status_code == 400 and gone.get_json()["message"] == "Campaign not found."
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_a_deleted_subscriber_stays_counted_in_campaigns_without_a_name(
        app: Flask, client: FlaskClient, capture: Outbox) -> None:
    # Deliveries have no foreign keys (materialise's speed): deleting a subscriber is handled in code.
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "削除される人", "subject": "お知らせ", "content_type": "plain", "lists": lists,
        "body": "本文"}).get_json()["data"]
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    run_jobs(app)
    with app.app_context():
        hanako = db.session.scalar(select(Subscriber).where(Subscriber.email_key == "hanako@example.jp"))
        assert hanako is not None
        delivery = db.session.scalar(select(Delivery).where(Delivery.subscriber_id == hanako.id))
        assert delivery is not None
        intake = Intake(Kind.BOUNCE, failures=(Failure("hanako@example.jp", Verdict.SOFT, "4.2.2", "mailbox full"),),
                        token=mark_token(Mark.BOUNCE, delivery.id))
        [bounce] = record(intake, "smtp")
        assert (bounce.email, bounce.delivery_id) == ("hanako@example.jp", delivery.id)
        subscriber_id, delivery_id, bounce_id = hanako.id, delivery.id, bounce.id
    assert client.delete(f"/api/subscribers/{subscriber_id}", headers=headers).status_code == 200
    with app.app_context():
        kept = db.session.get(Delivery, delivery_id)
        assert kept is not None and kept.subscriber_id is None and kept.status == "sent"
        assert db.session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.campaign_id == campaign["id"])) == 2
        forgotten = db.session.get(Bounce, bounce_id)
        assert forgotten is not None and (forgotten.email, forgotten.subscriber_id) == ("", None)


def test_list_unsubscribe_by_mail_reaches_the_inbound_server_and_unsubscribes(
        app: Flask, client: FlaskClient, capture: Outbox) -> None:
    # RFC 2369's mailto: beside the one-click link, for mail clients that can only send a message.
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "配信停止", "subject": "お知らせ", "content_type": "plain", "lists": lists,
        "body": "本文"}).get_json()["data"]
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    run_jobs(app)
    entry = next(e for e in capture.page(1, 10)[0] if "hanako" in e.to)
    message = email.message_from_string(capture.get(entry.key).raw,  # type: ignore[union-attr]
                                        policy=email.policy.default)
    https, mailto = (part.strip(" <>") for part in message["List-Unsubscribe"].split(","))
    assert https.startswith("http") and mailto.startswith("mailto:unsubscribe+")
    address = mailto.removeprefix("mailto:").split("?")[0]
    forged = re.sub(r"[0-9a-f]{16}@", "0123456789abcdef@", address)
    controller = start_inbound(app, app.config["KAIRAN"].bounces.port)
    try:
        with smtplib.SMTP("127.0.0.1", app.config["KAIRAN"].bounces.port) as smtp:
            request = b"Subject: unsubscribe\r\n\r\nunsubscribe\r\n"
            assert smtp.sendmail("hanako@example.jp", [forged], request) == {}  # accepted, and ignored
            with app.app_context():
                assert db.session.scalar(select(func.count()).select_from(Subscription).where(
                    Subscription.status == SubscriptionStatus.UNSUBSCRIBED)) == 0
            assert smtp.sendmail("hanako@example.jp", [address], request) == {}
    finally:
        controller.stop()
    with app.app_context():
        hanako = db.session.scalar(select(Subscriber).where(Subscriber.email_key == "hanako@example.jp"))
        assert hanako is not None
        assert {s.status for s in hanako.subscriptions} == {SubscriptionStatus.UNSUBSCRIBED}
        delivery = db.session.scalar(select(Delivery).where(Delivery.subscriber_id == hanako.id))
        assert delivery is not None and delivery.unsubscribed_at is not None  # the campaign is credited
        consent = db.session.scalar(select(ConsentRecord.evidence).where(ConsentRecord.subscriber_id == hanako.id)
                                    .order_by(ConsentRecord.id.desc()).limit(1))
        assert describe(consent or "") == "Unsubscribe by email (List-Unsubscribe mailto:)"
