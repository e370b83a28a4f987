"""Issue 18's A/B test, end to end: real workers, the capture SMTP server, and time moved by the one clock.

A campaign to 60 subscribers tests two subjects on half of them, for clicks, for two hours. Every reader of
variant A has their message prefetched by Apple's privacy protection (a machine's open), and a few of them
open it as people; more of variant B's readers click. When the clock passes the two hours, a worker's
reconciler chooses B (machines' opens never count) and sends it to the other half, whose messages' subjects
the capture server shows.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parseaddr

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core import clock
from core.db import db
from mailer.ab_stats import two_proportion_test
from mailer.models import ABTest, Delivery, DeliveryStatus
from mailer.outbox import Outbox
from tests.helpers import api_user, wait_until
from tests.mailer.helpers import Workers
from tests.tracking.helpers import APPLE_MPP, BROWSER
from tracking.flush import flush_events

APPLE_IP = "17.58.63.12"  # Apple's privacy relays (17.0.0.0/8)
READERS = 60
SUBJECT_A, SUBJECT_B = "冬のセールのお知らせ", "【最大50%オフ】冬のセール開始"


def messages(capture: Outbox) -> dict[str, tuple[str, str, list[str]]]:
    """Each captured message by its reader's address: (subject, open pixel path, tracked link paths)."""
    found = {}
    for entry in capture.page(1, 500)[0]:
        html = capture.get(entry.key).html or ""  # type: ignore[union-attr]
        pixel = re.search(r'src="http://[^/"]+(/o/[0-9a-f-]+\.gif)"', html)
        assert pixel, entry.to
        found[parseaddr(entry.to)[1]] = (entry.subject, pixel[1], re.findall(r'href="http://[^/"]+(/c/[0-9a-f-]+)"',
                                                                             html))
    return found


def phase_size(api: FlaskClient, campaign_id: int) -> int:
    """The recipients of a started A/B campaign's test phase, as its results say."""
    return sum(v["recipients"] for v in api.get(f"/api/campaigns/{campaign_id}/ab").get_json()["data"]["variants"])


def test_variant_b_wins_on_peoples_clicks_though_a_has_more_machine_opens_and_the_rest_get_b(
        moving: Flask, capture: Outbox, moved_workers: Workers) -> None:
    app, redis_url = moving, moving.config["KAIRAN"].redis_url
    api: FlaskClient = app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'shop')}"
    list_id = api.post("/api/lists", json={"name": "会員"}).get_json()["data"]["id"]
    for n in range(READERS):
        answer = api.post("/api/subscribers", json={"email": f"member{n}@example.jp", "name": f"会員{n}",
                                                    "lists": [list_id], "preconfirm_subscriptions": True})
        assert answer.status_code == 200, answer.get_json()
    created = api.post("/api/campaigns", json={
        "name": "冬のセール", "subject": SUBJECT_A, "content_type": "html", "lists": [list_id],
        "from_email": "回覧商事 <news@kairan.example>",
        "body": '<p>冬のセールを始めました。<a href="https://shop.example.jp/sale">セール会場へ</a></p>',
        "ab_test": {"variants": [{}, {"subject": SUBJECT_B, "from_name": "回覧商事 セール係"}],
                    "test_share": 50, "wait_hours": 2, "measure": "clicks"}})
    assert created.status_code == 200, created.get_json()
    campaign = created.get_json()["data"]
    # 60 recipients, 15 a variant: far too few to tell click rates apart, and the API says so before sending.
    assert campaign["ab_test"]["warning"] and campaign["ab_test"]["warning"] in campaign["warnings"]
    started = api.put(f"/api/campaigns/{campaign['id']}/status", json={"status": "running"}).get_json()["data"]
    assert started["to_send"] == READERS  # the whole audience is fixed at the start; the rest is held for the winner
    test_phase = phase_size(api, campaign["id"])
    assert 15 <= test_phase <= 45  # half of 60 by the keyed hash, give or take chance
    wait_until(lambda: capture.count() == test_phase, timeout=60)
    sent = messages(capture)
    group_a = sorted(address for address, (subject, _p, _l) in sent.items() if subject == SUBJECT_A)
    group_b = sorted(address for address, (subject, _p, _l) in sent.items() if subject == SUBJECT_B)
    assert len(group_a) + len(group_b) == test_phase and len(group_a) >= 4 and len(group_b) >= 4
    with app.app_context():  # the variant each delivery recorded is the one its message carried
        recorded = {row.variant: row.status for row in db.session.scalars(select(Delivery).where(
            Delivery.campaign_id == campaign["id"]))}
        assert set(recorded) == {0, 1, 2} and recorded[0] == DeliveryStatus.QUEUED  # 0: the rest, held

    reader = app.test_client()
    for address in group_a:  # Apple prefetches every message of A as it arrives: machines' opens, not people's
        reader.get(sent[address][1], headers={"User-Agent": APPLE_MPP}, environ_base={"REMOTE_ADDR": APPLE_IP})
    clock.move(redis_url, timedelta(minutes=20))  # people read later
    for address in group_a[:1]:  # one person of A opens, and clicks
        reader.get(sent[address][1], headers={"User-Agent": BROWSER})
        assert reader.get(sent[address][2][0], headers={"User-Agent": BROWSER}).status_code == 302
    for address in group_b[:3]:  # three people of B click (a click counts as an open too)
        assert reader.get(sent[address][2][0], headers={"User-Agent": BROWSER}).status_code == 302

    clock.move(redis_url, timedelta(hours=1, minutes=41))  # the two hours are up
    wait_until(lambda: capture.count() == READERS, timeout=60)
    rest = {address: subject for address, (subject, _p, _l) in messages(capture).items() if address not in sent}
    assert len(rest) == READERS - test_phase and set(rest.values()) == {SUBJECT_B}  # the rest got B
    with app.app_context():
        test = db.session.get(ABTest, campaign["id"])
        assert test is not None and (test.winner, test.decided_by) == (2, "auto")

    results = api.get(f"/api/campaigns/{campaign['id']}/ab").get_json()["data"]
    a, b = results["variants"]
    assert (a["machine_opens"], b["machine_opens"]) == (len(group_a) - 1, 0)  # the person's open is a person's
    assert (a["unique_clicks"], b["unique_clicks"]) == (1, 3)
    assert (a["unique_opens"], b["unique_opens"]) == (1, 3)
    assert results["winner"] == "B" and results["rest"]["recipients"] == READERS - test_phase
    # 1 of A's readers against 3 of B's: with about 15 each, too small to call (p ≈ 0.3); but the keyed hash draws
    # the groups' sizes anew each run, and with B's much the smaller (8 of 30) the difference is called.
    comparison = two_proportion_test(1, len(group_a), 3, len(group_b))
    called = comparison is not None and comparison.significant
    assert results["verdict"]["leader"] == "B" and results["verdict"]["called"] == called, (group_a, group_b)
    assert ("Too small to call" in results["verdict"]["statement"]) != called
    wait_until(lambda: api.get(f"/api/campaigns/{campaign['id']}").get_json()["data"]["status"] == "finished")


def test_the_variant_with_a_purchase_wins_though_the_other_has_more_clicks(moving: Flask, capture: Outbox,
                                                                           moved_workers: Workers) -> None:
    """Measured by conversions: two people of one variant click; one person of the other clicks and then buys (a
    purchase event the worker attributes to their message). When the wait is up, the buyer's variant wins and the
    rest get it."""
    app, redis_url = moving, moving.config["KAIRAN"].redis_url
    api: FlaskClient = app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'shop')}"
    list_id = api.post("/api/lists", json={"name": "会員"}).get_json()["data"]["id"]
    ids = {}
    for n in range(40):
        answer = api.post("/api/subscribers", json={"email": f"member{n}@example.jp", "lists": [list_id],
                                                    "preconfirm_subscriptions": True}).get_json()["data"]
        ids[answer["email"]] = answer["id"]
    created = api.post("/api/campaigns", json={
        "name": "冬のセール", "subject": SUBJECT_A, "content_type": "html", "lists": [list_id],
        "body": '<p><a href="https://shop.example.jp/sale">セール会場へ</a></p>',
        "ab_test": {"variants": [{}, {"subject": SUBJECT_B}], "test_share": 50, "wait_hours": 2,
                    "measure": "conversions"}}).get_json()["data"]
    api.put(f"/api/campaigns/{created['id']}/status", json={"status": "running"})
    test_phase = phase_size(api, created["id"])
    wait_until(lambda: capture.count() == test_phase, timeout=60)
    sent = messages(capture)
    groups = {subject: sorted(a for a, (s, _p, _l) in sent.items() if s == subject) for subject in (SUBJECT_A,
                                                                                                    SUBJECT_B)}
    clicking, buying = sorted(groups, key=lambda subject: len(groups[subject]), reverse=True)  # by chance's sizes
    assert len(groups[clicking]) >= 2 and groups[buying], groups
    clock.move(redis_url, timedelta(minutes=20))  # people read later (a click seconds after delivery is a scanner's)
    reader = app.test_client()
    for address in groups[clicking][:2] + groups[buying][:1]:
        assert reader.get(sent[address][2][0], headers={"User-Agent": BROWSER}).status_code == 302
    with app.app_context():  # flushed before the clock moves (a flush dates clicks by the clock it finds)
        flush_events()
    bought = api.post("/api/events", json={"subscriber_id": ids[groups[buying][0]], "name": "purchase",
                                           "properties": {"amount": 3980, "currency": "JPY"}})
    assert bought.status_code == 200 and bought.get_json()["data"]["stored"] == [0]
    buyer_at = [SUBJECT_A, SUBJECT_B].index(buying)  # the buyer's variant's place: 0 is A
    clock.move(redis_url, timedelta(minutes=1))  # past the events' settling time: the worker attributes it
    wait_until(lambda: api.get(f"/api/campaigns/{created['id']}/ab").get_json()["data"]["variants"][buyer_at][
        "conversions"] == 1, timeout=60)

    clock.move(redis_url, timedelta(hours=2))
    wait_until(lambda: capture.count() == 40, timeout=60)
    rest = {address: subject for address, (subject, _p, _l) in messages(capture).items() if address not in sent}
    assert rest and set(rest.values()) == {buying}
    results = api.get(f"/api/campaigns/{created['id']}/ab").get_json()["data"]
    clicks = [v["unique_clicks"] for v in results["variants"]]
    conversions = [v["conversions"] for v in results["variants"]]
    assert clicks[buyer_at] == 1 and clicks[1 - buyer_at] == 2 and conversions[buyer_at] == 1
    assert conversions[1 - buyer_at] == 0 and results["winner"] == "AB"[buyer_at]
