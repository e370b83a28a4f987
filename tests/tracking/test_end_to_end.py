"""Issue 7, end to end: a campaign really sent, then read, clicked, unsubscribed from, bounced and complained about
through the doors the world uses, and its figures checked against docs/architecture.md's definitions, worked out
by hand.

The campaign is created and started through the API and sent by real RQ jobs to the capture SMTP server. Every
reader acts on the message they got (its pixel, its links, its List-Unsubscribe URL, its Return-Path and
Message-ID), never on ids the test looked up: the pixel and redirect go through the real fast path and the
flusher; the hard bounce is a DSN mailed to the inbound SMTP server at the message's VERP return path; the soft
bounce is an SES notification posted by "SNS", really signed; the complaint is an ARF report mailed to the inbound
server's feedback address, naming the message by its Message-ID. Nothing is written to the database by the test.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
import smtplib
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.db import db, utcnow
from core.queues import redis
from lists.models import Subscriber
from mailer.models import Delivery
from mailer.outbox import Outbox
from tests.helpers import api_user, login, run_jobs, statuses, text_of
from tests.tracking.bounce_mail import BOUNCE_DOMAIN, complaint, dsn
from tests.tracking.helpers import APPLE_MPP, BROWSER, GMAIL_PROXY, bounces, recorded, suppressed, tracked
from tests.tracking.sns_stand_in import TOPIC, FakeAWS, Sent, post_sns, ses_bounce, sns_message
from tracking.classify import CLICK_AFTER_DELIVERY
from tracking.stream import STREAM

SALE, NEW = "https://shop.example.jp/sale", "https://shop.example.jp/new"
# Who each reader is, and what happens to their message (the part before @ is also their name).
READERS = (
    "gmail@gmail.com",  # opens in Gmail (its image proxy fetches the pixel), later clicks the sale
    "apple@icloud.com",  # Apple Mail Privacy Protection prefetches the pixel right after delivery, and that is all
    "reader@example.jp",  # opens in a desktop mail client, then unsubscribes with the one-click POST
    "scanned@example.co.jp",  # a mail gateway fetches the pixel and follows every link as the message arrives
    "safe@outlook.com",  # Safe Links checks the sale link (HEAD) on arrival; later the person, images off, clicks it
    "hard@example.jp",  # the receiver says the mailbox does not exist: a DSN to the VERP return path
    "soft@example.jp",  # the mailbox is full: SES gives up and notifies a Transient bounce
    "angry@yahoo.co.jp",  # opens in a desktop mail client, then reports it as spam (ARF)
)
THUNDERBIRD = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
GATEWAY = "Barracuda Sentinel (EE)"  # a scanner that names itself
GOOGLE_IP, APPLE_IP = "66.249.84.20", "17.58.63.12"  # Gmail's image proxy; Apple's MPP relays (17.0.0.0/8)

# docs/architecture.md's definitions, worked out for the readers above:
EXPECTED = {
    "recipients": 8,  # one delivery row per reader
    "sent": 8, "failed": 0, "pending": 0, "suppressed": 0,  # the capture server accepted all 8
    "bounced": 2, "hard_bounced": 1, "soft_bounced": 1,  # hard@ (DSN), soft@ (SES); a complaint is no bounce
    "delivered": 6,  # sent 8 − bounced 2
    "delivery_rate": 6 / 8,  # delivered 6 / (sent 8 + failed 0)
    "unique_opens": 4,  # gmail (proxy), reader, angry (desktop clients), safe (a click implies an open)
    "machine_opens": 2,  # apple (MPP) and scanned (the gateway): opened by machines only
    "open_rate": 4 / 6,  # unique opens 4 / delivered 6
    "unique_clicks": 2,  # gmail and safe clicked as people
    "machine_clicks": 1,  # scanned only; safe's HEAD check is a machine's, but a person clicked that message too
    "click_rate": 2 / 6,  # unique clicks 2 / delivered 6
    "click_to_open": 2 / 4,  # unique clicks 2 / unique opens 4
    "unsubscribes": 1, "unsubscribe_rate": 1 / 6,  # reader, over delivered 6
    "complaints": 1, "complaint_rate": 1 / 6,  # angry, over delivered 6
    "conversions": 0, "converted": 0, "conversion_rate": 0.0,  # nobody bought (tests/automations/test_conversions.py)
    "revenue": 0.0, "revenue_per_recipient": 0.0, "currency": "JPY",
    "individual": True,
}


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The sender's details, SES's topic, and the bounce domain the feedback loop reports to."""
    return {**settings_env, "KAIRAN_SES_TOPIC_ARNS": TOPIC, "KAIRAN_BOUNCE_DOMAIN": BOUNCE_DOMAIN}


@dataclass(frozen=True)
class Mail:
    """One reader's message as the capture server received it: what their mail client (or a machine) acts on."""

    pixel: str  # the open pixel's path
    links: list[str]  # the tracked links' paths, in the body's order (SALE, NEW)
    unsubscribe: str  # the path of List-Unsubscribe's URL
    sent: Sent  # its envelope sender and Message-ID, as a provider's webhook names them


def send(app: Flask, client: FlaskClient, headers: dict[str, str], capture: Outbox) -> tuple[int, int, dict[str, Mail]]:
    """Create and start the campaign through the API, send it with real RQ jobs; (list id, campaign id, mail)."""
    list_id = client.post("/api/lists", headers=headers, json={"name": "お知らせ"}).get_json()["data"]["id"]
    for address in READERS:
        created = client.post("/api/subscribers", headers=headers, json={
            "email": address, "name": address.split("@")[0], "lists": [list_id], "preconfirm_subscriptions": True})
        assert created.status_code == 200, created.get_json()
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "十二月号", "subject": "{{ subscriber.name }}様へ 師走のお知らせ", "content_type": "html",
        "lists": [list_id], "from_email": "回覧商事 <news@kairan.example>",
        "body": f'<p>歳末<a href="{SALE}">セール</a>と<a href="{NEW}">新着</a>のご案内です。</p>'}).get_json()["data"]
    started = client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    assert started.get_json()["data"]["to_send"] == len(READERS)
    run_jobs(app)
    paths = tracked(capture)
    mail = {}
    with app.app_context():
        deliveries = dict(db.session.execute(select(Subscriber.email, Delivery.id).join(
            Delivery, Delivery.subscriber_id == Subscriber.id).where(Delivery.campaign_id == campaign["id"])).all())
    for entry in capture.page(1, 50)[0]:
        message = email.message_from_string(capture.get(entry.key).raw,  # type: ignore[union-attr]
                                            policy=email.policy.default)
        address = str(message["To"].addresses[0].addr_spec)
        name = address.split("@")[0]
        unsubscribe = re.fullmatch(r"<(https?://[^>]+)>, <mailto:[^>]+>", str(message["List-Unsubscribe"]))
        assert unsubscribe and message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        pixel, links = paths[name]
        assert len(links) == 2, links  # SALE and NEW; the footer's links are per reader, never tracked
        mail[name] = Mail(pixel, links, urlsplit(unsubscribe[1]).path, Sent(
            deliveries[address], campaign["id"], address, str(message["Message-ID"]),
            str(message["Return-Path"]).strip("<>")))
    assert sorted(mail) == sorted(a.split("@")[0] for a in READERS)
    return list_id, campaign["id"], mail


def get(client: FlaskClient, path: str, user_agent: str, ip: str = "203.0.113.7", method: str = "GET") -> int:
    """Fetch a pixel or follow a link as a mail client (or a machine) would; return the status."""
    return client.open(path, method=method, headers={"User-Agent": user_agent},
                       environ_base={"REMOTE_ADDR": ip}).status_code


def machines_on_arrival(web: FlaskClient, mail: dict[str, Mail]) -> None:
    """What machines do the moment the messages arrive, before anyone reads them."""
    assert get(web, mail["apple"].pixel, APPLE_MPP, APPLE_IP) == 200  # bare "Mozilla/5.0" from Apple's relay
    assert get(web, mail["scanned"].pixel, GATEWAY) == 200
    for link in mail["scanned"].links:  # every link within the same second, looking like a browser
        assert get(web, link, BROWSER) == 302
    assert get(web, mail["safe"].links[0], BROWSER, method="HEAD") == 302


def people_open(web: FlaskClient, mail: dict[str, Mail]) -> None:
    assert get(web, mail["gmail"].pixel, GMAIL_PROXY, GOOGLE_IP) == 200  # Gmail fetches because someone opened it
    assert get(web, mail["reader"].pixel, THUNDERBIRD) == 200
    assert get(web, mail["angry"].pixel, OUTLOOK) == 200


def people_click(app: Flask, web: FlaskClient, mail: dict[str, Mail]) -> None:
    """gmail@ and safe@ click the sale, once a person could have read the message (no scanner-fast click)."""
    with app.app_context():
        last_sent = max(at for at in db.session.scalars(select(Delivery.sent_at)) if at is not None)
    wait = (last_sent + CLICK_AFTER_DELIVERY - utcnow()).total_seconds() + 0.2
    if wait > 0:
        time.sleep(wait)
    for name in ("gmail", "safe"):
        answer = web.get(mail[name].links[0], headers={"User-Agent": BROWSER})
        assert answer.status_code == 302 and answer.headers["Location"] == SALE


def unsubscribe_one_click(app: Flask, mail: Mail) -> None:
    """RFC 8058: the mailbox provider POSTs List-Unsubscribe=One-Click to the header's URL, with no cookie."""
    provider = app.test_client(use_cookies=False)
    answer = provider.post(mail.unsubscribe, data={"List-Unsubscribe": "One-Click"},
                           headers={"User-Agent": "GoogleOneClickUnsubscribe"})
    assert answer.status_code == 200  # done, and no redirect


def hard_bounce(port: int, mail: Mail) -> None:
    """The receiving MTA returns a DSN (5.1.1) to the message's envelope sender, bounce+TOKEN@ the bounce domain."""
    local, _at, domain = mail.sent.return_path.partition("@")
    assert local.startswith("bounce+") and domain == BOUNCE_DOMAIN
    report = dsn(mail.sent.email, token=local.removeprefix("bounce+"), message_id=mail.sent.message_id)
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.ehlo("mx.example.jp")
        assert smtp.sendmail("", [mail.sent.return_path], report) == {}


def spam_report(port: int, mail: Mail) -> None:
    """A feedback loop mails an ARF report to the bounce domain's fixed address; only the Message-ID names the mail."""
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.ehlo("fbl.example.net")
        assert smtp.sendmail("", [f"fbl@{BOUNCE_DOMAIN}"], complaint(mail.sent.email,
                                                                     message_id=mail.sent.message_id)) == {}


def soft_bounce(web: FlaskClient, aws: FakeAWS, mail: Mail) -> None:
    """SES stopped trying a full mailbox: a Transient bounce, which Kairan counts as soft (README, webhooks)."""
    notice = sns_message(aws, "Notification", Subject="Amazon SES Email Event Notification",
                         Message=ses_bounce(mail.sent, "Transient", "4.2.2", "smtp; 452 4.2.2 Mailbox full"))
    answer = post_sns(web, notice)
    assert answer.status_code == 200 and answer.get_json() == {"data": True}


def test_a_sent_campaign_read_clicked_unsubscribed_bounced_and_complained_about_adds_up(
        sns_app: Flask, client: FlaskClient, capture: Outbox, inbound: int, aws: FakeAWS,
        users: dict[str, str]) -> None:
    app = sns_app
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    list_id, campaign_id, mail = send(app, client, admin, capture)
    web = app.test_client()  # the readers' mail clients and the machines in front of them

    machines_on_arrival(web, mail)
    people_open(web, mail)
    unsubscribe_one_click(app, mail["reader"])
    hard_bounce(inbound, mail["hard"])
    spam_report(inbound, mail["angry"])
    soft_bounce(web, aws, mail["soft"])
    people_click(app, web, mail)
    run_jobs(app)  # the flush the first pixel queued (tracking.flush.flush_events, a real RQ job)
    with app.app_context():
        assert redis().xlen(STREAM) == 0  # everything the stream held is in the database now

    # Each event as the rules judged it: machines apart, each with its reason.
    assert sorted(recorded(app)) == sorted([
        ("apple", "open", False, "apple_mpp"),
        ("scanned", "open", False, "scanner_user_agent"),
        ("scanned", "click", False, "same_second_clicks"),
        ("scanned", "click", False, "same_second_clicks"),
        ("safe", "click", False, "head_request"),
        ("gmail", "open", True, "gmail_proxy"),
        ("reader", "open", True, "person"),
        ("angry", "open", True, "person"),
        ("gmail", "click", True, "person"),
        ("safe", "click", True, "person"),
    ])
    # Each bounce tied to the delivery its message came from, whichever way it came.
    assert bounces(app) == [("hard@example.jp", "hard", "smtp", mail["hard"].sent.delivery_id, False),
                            ("angry@yahoo.co.jp", "complaint", "smtp", mail["angry"].sent.delivery_id, False),
                            ("soft@example.jp", "soft", "ses", mail["soft"].sent.delivery_id, False)]

    viewer = {"Authorization": f"token {api_user(app, 'viewer', 'analyst')}"}
    answer = client.get(f"/api/campaigns/{campaign_id}/metrics", headers=viewer)
    assert answer.status_code == 200
    assert answer.get_json()["data"] == {"campaign_id": campaign_id, **EXPECTED}
    # listmonk's fields say the same: views = unique opens, clicks = unique clicks, bounces = bounced.
    listed = client.get(f"/api/campaigns/{campaign_id}", headers=viewer).get_json()["data"]
    assert (listed["views"], listed["clicks"], listed["bounces"]) == (4, 2, 2)
    exported = client.get(f"/api/campaigns/{campaign_id}/report.csv", headers=viewer).data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(exported)))
    for row in (["delivered", "6"], ["delivery_rate", "0.75"], ["open_rate", "0.666667"], ["machine_opens", "2"],
                ["click_rate", "0.333333"], ["click_to_open", "0.5"], ["machine_clicks", "1"]):
        assert row in rows, row

    page = app.test_client()
    login(page, "viewer")
    report = page.get(f"/campaigns/{campaign_id}/report.json").get_json()
    assert report["data"]["metrics"] == {"campaign_id": campaign_id, **EXPECTED}
    assert report["data"]["status"] == "finished" and report["data"]["live"] is False
    # Events over time: people's opens 3 (gmail, reader, angry), machines' 2 (apple, scanned); people's clicks
    # 2 (gmail, safe), machines' 3 (scanned's two, safe's HEAD).
    totals = [sum(bucket[key] for bucket in report["data"]["timeline"])
              for key in ("opens", "machine_opens", "clicks", "machine_clicks")]
    assert totals == [3, 2, 2, 3]
    # SALE: clicked by gmail and safe, checked by the gateway and Safe Links; NEW: the gateway only.
    assert report["data"]["links"] == [
        {"url": SALE, "clicks": 2, "unique_clicks": 2, "machine_clicks": 2},
        {"url": NEW, "clicks": 0, "unique_clicks": 0, "machine_clicks": 1}]

    html = page.get(f"/campaigns/{campaign_id}/report", headers={"Accept-Language": "en"}).get_data(as_text=True)
    shown = {"delivery_rate": "75.0%", "open_rate": "66.7%", "click_rate": "33.3%", "click_to_open": "50.0%",
             "unsubscribes": "1", "complaints": "1"}  # EXPECTED's rates to one decimal: 6/8, 4/6, 2/6, 2/4
    for key, value in shown.items():
        assert re.search(rf'data-kpi="{key}">.*?data-value>{re.escape(value)}<', html, re.DOTALL), key
        assert re.search(rf'data-kpi="{key}">.*?data-value>{re.escape(value)}<', report["parts"]["headline"],
                         re.DOTALL), key
    text = text_of(html)
    for sentence in ("6 delivered of 8 tried", "Bounced 2 (hard 1, soft 1) · failed 0", "4 people opened it",
                     "Messages only machines opened, not counted: 2", "2 people clicked",
                     "Messages only machines clicked, not counted: 1"):
        assert sentence in text, sentence
    assert text.count("16.7% of delivered") == 2  # unsubscribes and complaints: 1/6 each
    for step, number in (("recipients", 8), ("sent", 8), ("delivered", 6), ("opened", 4), ("clicked", 2)):
        assert re.search(rf'data-step="{step}">.*?funnel-count">{number}<', html, re.DOTALL), step

    # Hard bounces and complaints suppress at once; one soft bounce does not; the unsubscribe is the reader's
    # own subscription, ended (a suppression would outlive a later sign-up).
    assert suppressed(app) == {"hard@example.jp": "hard_bounce", "angry@yahoo.co.jp": "complaint"}
    assert statuses(app, "reader@example.jp") == {"お知らせ": "unsubscribed"}
    assert statuses(app, "soft@example.jp") == {"お知らせ": "confirmed"}

    # So the next campaign to the list goes to everyone but the unsubscribed, the hard-bounced and the complainer.
    follow_up = client.post("/api/campaigns", headers=admin, json={
        "name": "一月号", "subject": "新年のお知らせ", "content_type": "plain", "lists": [list_id],
        "from_email": "回覧商事 <news@kairan.example>", "body": "本年もよろしくお願いいたします。"}).get_json()["data"]
    started = client.put(f"/api/campaigns/{follow_up['id']}/status", headers=admin, json={"status": "running"})
    assert started.get_json()["data"]["to_send"] == 8 - 3
    with app.app_context():
        audience = set(db.session.scalars(select(Subscriber.email).join(
            Delivery, Delivery.subscriber_id == Subscriber.id).where(Delivery.campaign_id == follow_up["id"])))
    assert audience == set(READERS) - {"reader@example.jp", "hard@example.jp", "angry@yahoo.co.jp"}
