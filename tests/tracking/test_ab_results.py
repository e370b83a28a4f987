"""Which A/B tests the reconciler decides by itself: not one the editor decides by hand, not one before its wait,
not one whose opens and clicks are still on their way to the database (tests/tracking/test_ab_end_to_end.py decides
them by clicks and by purchases)."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.db import db, utcnow
from core.queues import redis
from mailer.models import ABTest
from mailer.outbox import Outbox
from tests.helpers import api_user, login, run_jobs
from tests.tracking.helpers import BROWSER, tracked
from tracking.ab_results import decide_due_tests
from tracking.flush import LOCK


@pytest.fixture
def admin(client: FlaskClient, app: Flask) -> FlaskClient:
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'boss')}"
    return client


def _started(client: FlaskClient, app: Flask, **settings: object) -> int:
    """A campaign to 20 subscribers testing two subjects on half of them, its test phase sent; its id."""
    list_id = client.post("/api/lists", json={"name": "会員", "optin": "single"}).get_json()["data"]["id"]
    for n in range(20):
        client.post("/api/subscribers", json={"email": f"m{n}@example.jp", "name": f"m{n}", "lists": [list_id]})
    campaign = client.post("/api/campaigns", json={
        "name": "A/B", "subject": "件名A", "lists": [list_id], "content_type": "html", "body": "<p>本文</p>",
        "ab_test": {"variants": [{}, {"subject": "件名B"}], "test_share": 50, "wait_hours": 1, **settings}})
    campaign_id = int(campaign.get_json()["data"]["id"])
    assert client.put(f"/api/campaigns/{campaign_id}/status", json={"status": "running"}).status_code == 200
    run_jobs(app)
    return campaign_id


def _page(app: Flask, path: str) -> str:
    """A page as an admin sees it, in English."""
    browser = app.test_client()
    login(browser, "admin")
    answer = browser.get(path, headers={"Accept-Language": "en"})
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def _wait_is_over(app: Flask, campaign_id: int) -> None:
    with app.app_context():
        test = db.session.get(ABTest, campaign_id)
        assert test is not None and test.decide_at is not None
        test.decide_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def test_a_test_is_decided_only_once_its_wait_is_over(admin: FlaskClient, app: Flask, capture: Outbox) -> None:
    campaign_id = _started(admin, app)
    with app.test_request_context():
        assert decide_due_tests() == 0  # an hour to go
    _wait_is_over(app, campaign_id)
    with app.test_request_context():
        assert decide_due_tests() == 1
        assert decide_due_tests() == 0  # decided once
        test = db.session.get(ABTest, campaign_id)
        assert test is not None and (test.winner, test.decided_by) == (1, "auto")  # nobody read: a tie goes to A


def test_a_test_decided_by_hand_waits_for_its_editor(admin: FlaskClient, app: Flask, capture: Outbox) -> None:
    campaign_id = _started(admin, app, manual=True)
    _wait_is_over(app, campaign_id)
    with app.test_request_context():
        assert decide_due_tests() == 0
        assert db.session.get(ABTest, campaign_id).winner is None  # type: ignore[union-attr]
    assert admin.get(f"/api/campaigns/{campaign_id}").get_json()["data"]["status"] == "running"  # the rest held


def test_a_test_is_decided_only_once_the_opens_made_before_its_end_are_stored(admin: FlaskClient, app: Flask,
                                                                              capture: Outbox) -> None:
    """A person opens B just before the wait is over; the open is in the event stream, not yet in the database (the
    flush that ran before the decision came too early for it, and another worker's flusher is still at work). The
    decision waits for it rather than choose A on a tie of none."""
    campaign_id = _started(admin, app)
    reader_of_b = next(parseaddr(entry.to)[1].split("@")[0] for entry in capture.page(1, 50)[0]
                       if entry.subject == "件名B")
    with app.app_context():
        other_flusher = redis().lock(LOCK, timeout=60)
        assert other_flusher.acquire(blocking=False)
    assert app.test_client().get(tracked(capture)[reader_of_b][0], headers={"User-Agent": BROWSER}).status_code == 200
    _wait_is_over(app, campaign_id)
    with app.test_request_context():
        assert decide_due_tests() == 0  # the open is not stored yet: no winner
        assert db.session.get(ABTest, campaign_id).winner is None  # type: ignore[union-attr]
    other_flusher.release()  # (it stored nothing: the open is left to the next flush)
    with app.test_request_context():
        assert decide_due_tests() == 1  # it stores what was appended before it, then decides
        test = db.session.get(ABTest, campaign_id)
        assert test is not None and (test.winner, test.decided_by) == (2, "auto")
