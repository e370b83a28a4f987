"""A/B tests: the statistics against known values, what each bad setting gets, the keyed assignment, a winner chosen
by hand, and each variant's own content in its readers' messages."""

from __future__ import annotations

import email
import email.policy
import math
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from core.db import db
from mailer.ab_stats import normal_cdf, sample_size, two_proportion_test
from mailer.models import Campaign, Delivery
from mailer.outbox import Outbox
from mailer.queries import Split, materialise
from mailer.sending import campaign_progress
from tests.helpers import api_user, run_jobs


def test_the_normal_cdf_matches_the_tables() -> None:
    assert normal_cdf(0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-12)
    assert normal_cdf(-1) == pytest.approx(0.15865525393145707, abs=1e-12)
    assert normal_cdf(1.6448536269514722) == pytest.approx(0.95, abs=1e-12)


def test_the_two_proportion_z_test_matches_a_hand_worked_example() -> None:
    # 200 of 1,000 against 250 of 1,000: pooled p = 0.225, se = √(0.225 · 0.775 · (1/1000 + 1/1000)) = 0.018675,
    # z = 0.05 / 0.018675 = 2.6774, two-sided p = 2 (1 − Φ(2.6774)) = 0.00742.
    found = two_proportion_test(200, 1000, 250, 1000)
    assert found is not None
    assert found.z == pytest.approx(0.05 / math.sqrt(0.225 * 0.775 * 0.002), rel=1e-12)
    assert found.z == pytest.approx(2.6774, abs=1e-4) and found.p_value == pytest.approx(0.00742, abs=1e-5)
    assert found.significant
    # The same rates on a tenth of the sample: se = √(0.225 · 0.775 · 0.02) = 0.059055, z = 0.8467, p = 0.3972.
    small = two_proportion_test(20, 100, 25, 100)
    assert small is not None and small.z == pytest.approx(0.8467, abs=1e-4)
    assert small.p_value == pytest.approx(0.3972, abs=1e-4) and not small.significant
    assert two_proportion_test(0, 100, 0, 100).p_value == 1.0  # type: ignore[union-attr]
    assert two_proportion_test(1, 0, 1, 10) is None


def test_the_sample_size_matches_the_published_tables() -> None:
    # 95 % two-sided, 80 % power, no continuity correction (Fleiss, Statistical Methods for Rates and Proportions).
    assert sample_size(0.05, 0.10) == 435
    assert sample_size(0.20, 0.25) == 1094
    assert sample_size(0.10, 0.15) == 686
    assert sample_size(0.3, 0.3) is None


@pytest.fixture
def admin(client: FlaskClient, app: Flask) -> FlaskClient:
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'boss')}"
    return client


def _campaign(client: FlaskClient, ab_test: object, lists: list[int] | None = None) -> tuple[int, dict[str, Any]]:
    answer = client.post("/api/campaigns", json={"name": "A/B", "subject": "件名A", "lists": lists or [],
                                                 "content_type": "html", "body": "<p>本文A</p>", "ab_test": ab_test})
    return answer.status_code, answer.get_json()


TWO = [{}, {"subject": "件名B"}]


@pytest.mark.parametrize(("ab_test", "says"), [
    ({"variants": [{}] * 6}, "An A/B test needs 2 to 5 variants (got 6)."),
    ({"variants": [{}]}, "An A/B test needs 2 to 5 variants (got 1)."),
    ({"variants": TWO, "test_share": 60},
     "The test share must be 10 to 50 percent of the audience, or 100 for a plain split with no winner phase "
     "(got 60)."),
    ({"variants": TWO, "test_share": 5},
     "The test share must be 10 to 50 percent of the audience, or 100 for a plain split with no winner phase "
     "(got 5)."),
    ({"variants": TWO, "wait_hours": 0},
     "The wait before the winner is chosen must be 1 to 72 hours (got 0)."),
    ({"variants": TWO, "wait_hours": 73},
     "The wait before the winner is chosen must be 1 to 72 hours (got 73)."),
    ({"variants": TWO, "wait_hours": "３"}, "wait_hours must be a whole number."),
    ({"variants": TWO, "measure": "revenue"},
     "The winning measure must be one of: opens, clicks, conversions (got revenue)."),
    ({"variants": TWO, "manual": "yes"}, "manual must be true or false."),
    ([1, 2], "ab_test must be an object (or null to remove the test)."),
    ({"variants": [{}, {"from_name": "回覧\n商事"}]},
     "Variant B: From name may not contain line breaks or control characters."),
    ({"variants": [{}, {"subject": "{{ subscriber.name "}]}, "Variant B: Subject"),
    ({"variants": [{}, {"from_name": "営業" * 101}]}, "Variant B: From name may be 200 characters at most."),
])
def test_each_bad_setting_gets_a_clear_error_and_saves_nothing(admin: FlaskClient, app: Flask, ab_test: object,
                                                               says: str) -> None:
    status, answer = _campaign(admin, ab_test)
    assert status == 400 and answer["message"].startswith(says), answer
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0  # checked before saving


def test_a_test_is_saved_shown_and_kept_until_sent(admin: FlaskClient) -> None:
    status, answer = _campaign(admin, {"variants": [{}, {"subject": "件名B", "preheader": "B の一行"}],
                                       "test_share": 100, "wait_hours": 72, "measure": "conversions",
                                       "manual": True})
    assert status == 200, answer
    test = answer["data"]["ab_test"]
    assert (test["test_share"], test["wait_hours"], test["measure"], test["manual"]) == (100, 72, "conversions", True)
    assert [v["label"] for v in test["variants"]] == ["A", "B"] and test["variants"][1]["subject"] == "件名B"
    campaign_id = answer["data"]["id"]
    changed = admin.put(f"/api/campaigns/{campaign_id}", json={"ab_test": {"test_share": 10}}).get_json()["data"]
    assert changed["ab_test"]["test_share"] == 10 and len(changed["ab_test"]["variants"]) == 2  # the rest kept
    plain = admin.get(f"/api/campaigns/{campaign_id}").get_json()["data"]
    assert plain["ab_test"]["variants"][1]["preheader"] == "B の一行"
    assert admin.get("/api/campaigns").get_json()["data"]["results"][0]["ab_test"]["test_share"] == 10
    removed = admin.put(f"/api/campaigns/{campaign_id}", json={"ab_test": None}).get_json()["data"]
    assert removed["ab_test"] is None


def _subscribers(app: Flask, count: int) -> int:
    """A list of ``count`` subscribers, inserted set-based; return its id."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'seeder')}"
    list_id = int(client.post("/api/lists", json={"name": "会員", "optin": "single"}).get_json()["data"]["id"])
    for n in range(count):
        client.post("/api/subscribers", json={"email": f"m{n}@example.jp", "name": f"m{n}", "lists": [list_id]})
    return list_id


def test_the_keyed_hash_assigns_each_subscriber_once_and_the_same_way_every_time(app: Flask) -> None:
    list_id = _subscribers(app, 300)
    with app.app_context():
        ids = []
        for _ in range(3):
            campaign = Campaign(name="c", subject="s", lists=[list_id])
            db.session.add(campaign)
            db.session.flush()
            ids.append(campaign.id)
        split = Split(key_a=1_234_567, key_b=89_101, share=20, variants=3)
        assert materialise(ids[0], [list_id], split=split) == 300  # everyone once: the test phase and the rest
        assert materialise(ids[1], [list_id], split=split) == 300
        variants = dict(db.session.execute(select(Delivery.variant, func.count()).where(
            Delivery.campaign_id == ids[0]).group_by(Delivery.variant)).all())
        test_phase = 300 - variants[0]  # the rest, variant 0, held for the winner
        assert set(variants) == {0, 1, 2, 3} and 30 <= test_phase <= 90  # 20 % of 300, give or take chance
        first = dict(db.session.execute(select(Delivery.subscriber_id, Delivery.variant).where(
            Delivery.campaign_id == ids[0])).all())
        second = dict(db.session.execute(select(Delivery.subscriber_id, Delivery.variant).where(
            Delivery.campaign_id == ids[1])).all())
        assert first == second  # the same key: the same people in the same variants
        # A test started before the rest was inserted at the start gets only the rest, once
        db.session.execute(delete(Delivery).where(Delivery.campaign_id == ids[1], Delivery.variant == 0))
        assert materialise(ids[1], [list_id], split=split, rest_only=True) == 300
        materialise(ids[2], [list_id], split=Split(7_654_321, 5, 20, 3))
        others = set(db.session.scalars(select(Delivery.subscriber_id).where(Delivery.campaign_id == ids[2],
                                                                             Delivery.variant != 0)))
        assert others and others != {s for s, v in second.items() if v}  # another test's key chooses other people
        db.session.rollback()


def test_an_editor_chooses_the_winner_by_hand_and_each_variant_has_its_own_content(
        admin: FlaskClient, app: Flask, capture: Outbox) -> None:
    list_id = _subscribers(app, 40)
    status, answer = _campaign(admin, {"variants": [{}, {"subject": "件名B", "body": "<p>本文B</p>",
                                                         "from_name": "回覧商事 \"B\" 係"}],
                                       "test_share": 50, "wait_hours": 1, "manual": True}, [list_id])
    assert status == 200, answer
    campaign_id = answer["data"]["id"]
    early = admin.post(f"/api/campaigns/{campaign_id}/ab/winner", json={"variant": "B"})
    assert early.status_code == 400 and "once the test phase has been sent" in early.get_json()["message"]
    test_phase = admin.put(f"/api/campaigns/{campaign_id}/status", json={"status": "running"}).get_json()["data"]
    assert test_phase["to_send"] == 40  # the whole audience is fixed at the start: the rest is held
    run_jobs(app)
    test_phase_sent = capture.count()
    assert 0 < test_phase_sent < 40
    results = admin.get(f"/api/campaigns/{campaign_id}/ab").get_json()["data"]
    assert results["held"] == 40 - test_phase_sent and results["rest"] is None  # said while they wait
    with app.app_context():  # the campaign page's progress: none left to send now, the rest held
        progress = campaign_progress(db.session.get_one(Campaign, campaign_id))
    assert (progress["remaining"], progress["held"]) == (0, 40 - test_phase_sent)
    bodies = {}
    for entry in capture.page(1, 100)[0]:
        mail = capture.get(entry.key)
        assert mail is not None
        sender = email.message_from_string(mail.raw, policy=email.policy.default)["From"].addresses[0]
        bodies[entry.subject] = ("本文B" in (mail.html or ""), "本文A" in (mail.html or ""), sender.display_name)
    # B's own body and sender's name, A the campaign's own (no From of its own: the installation's default sender)
    assert bodies == {"件名A": (False, True, "回覧商事"), "件名B": (True, False, '回覧商事 "B" 係')}
    assert admin.get(f"/api/campaigns/{campaign_id}").get_json()["data"]["status"] == "running"  # the rest waits
    for bad, says in (({"variant": "F"}, "variant must be a variant's letter, A to E."),
                      ({"variant": "C"}, "Choose a variant from A to B.")):
        refused = admin.post(f"/api/campaigns/{campaign_id}/ab/winner", json=bad)
        assert refused.status_code == 400 and refused.get_json()["message"] == says
    with app.app_context():  # three of the rest, held, leave while the test runs: the winner must not reach them
        held = list(db.session.scalars(select(Delivery.subscriber_id).where(
            Delivery.campaign_id == campaign_id, Delivery.variant == 0).order_by(Delivery.id)))
    assert len(held) == 40 - test_phase_sent and len(held) >= 3
    left, blocked, suppressed = held[:3]
    assert admin.put("/api/subscribers/lists", json={"ids": [left], "action": "unsubscribe",
                                                     "target_list_ids": [list_id]}).status_code == 200
    assert admin.put(f"/api/subscribers/{blocked}/blocklist").status_code == 200
    address = admin.get(f"/api/subscribers/{suppressed}").get_json()["data"]["email"]
    assert admin.post("/api/suppressions", json={"value": address, "reason": "manual"}).status_code == 200
    chosen = admin.post(f"/api/campaigns/{campaign_id}/ab/winner", json={"variant": "b"}).get_json()["data"]
    assert chosen["added"] == 40 - test_phase_sent and chosen["ab_test"]["decided_by"] == "boss"
    again = admin.post(f"/api/campaigns/{campaign_id}/ab/winner", json={"variant": "A"})
    assert again.status_code == 400
    assert again.get_json()["message"] == "The winner of this test has already been chosen."
    run_jobs(app)
    assert capture.count() == 37
    results = admin.get(f"/api/campaigns/{campaign_id}/ab").get_json()["data"]
    assert results["held"] == 0 and results["rest"]["recipients"] == 40 - test_phase_sent
    subjects = [entry.subject for entry in capture.page(1, 100)[0]]
    assert subjects.count("件名B") == 37 - subjects.count("件名A")
    with app.app_context():
        statuses = dict(db.session.execute(select(Delivery.subscriber_id, Delivery.status).where(
            Delivery.campaign_id == campaign_id, Delivery.subscriber_id.in_(held[:3]))).all())
    assert set(statuses.values()) == {"suppressed"} and len(statuses) == 3
    assert admin.get(f"/api/campaigns/{campaign_id}").get_json()["data"]["status"] == "finished"


def test_a_test_send_shows_the_variant_asked_for(admin: FlaskClient, app: Flask, capture: Outbox) -> None:
    status, answer = _campaign(admin, {"variants": [{}, {"subject": "件名B", "body": "<p>本文B</p>"}]})
    assert status == 200, answer
    campaign_id = answer["data"]["id"]
    for variant in ("B", None):
        sent = admin.post(f"/api/campaigns/{campaign_id}/test", json={"subscribers": ["editor@example.jp"],
                                                                      "variant": variant})
        assert sent.status_code == 200, sent.get_json()
    refused = admin.post(f"/api/campaigns/{campaign_id}/test", json={"subscribers": ["editor@example.jp"],
                                                                     "variant": "Z"})
    assert refused.status_code == 400 and refused.get_json()["message"] == "variant must be a variant's letter, A to E."
    run_jobs(app)
    tests = {entry.subject: "本文B" in (capture.get(entry.key).html or "")  # type: ignore[union-attr]
             for entry in capture.page(1, 10)[0]}
    assert tests == {"[Test] 件名B": True, "[Test] 件名A": False}


def test_a_plain_split_sends_every_variant_to_everyone_with_no_winner(admin: FlaskClient, app: Flask,
                                                                      capture: Outbox) -> None:
    list_id = _subscribers(app, 30)
    status, answer = _campaign(admin, {"variants": [{}, {"subject": "件名B"}, {"subject": "件名C"}],
                                       "test_share": 100}, [list_id])
    assert status == 200, answer
    campaign_id = answer["data"]["id"]
    started = admin.put(f"/api/campaigns/{campaign_id}/status", json={"status": "running"}).get_json()["data"]
    assert started["to_send"] == 30 and started["ab_test"]["decide_at"] is None
    run_jobs(app)
    subjects = sorted({entry.subject for entry in capture.page(1, 100)[0]})
    assert capture.count() == 30 and subjects == ["件名A", "件名B", "件名C"]
    assert admin.get(f"/api/campaigns/{campaign_id}").get_json()["data"]["status"] == "finished"  # nothing held
    refused = admin.post(f"/api/campaigns/{campaign_id}/ab/winner", json={"variant": "B"})
    assert refused.get_json()["message"] == "This campaign has no A/B test with a winner to choose."
    results = admin.get(f"/api/campaigns/{campaign_id}/ab").get_json()["data"]
    assert [v["recipients"] for v in results["variants"]] and sum(v["recipients"] for v in results["variants"]) == 30
