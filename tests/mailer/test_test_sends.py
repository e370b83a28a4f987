"""Test sends and previews are inert: rendered as a real subscriber, their links change nothing in that name.

A colleague who presses Gmail's unsubscribe button on a test must not unsubscribe the customer the
test was rendered for. Every link such a message carries (List-Unsubscribe's one-click, the body's
unsubscribe, preferences and opt-in links) leads to a page that says it is a test; none records
an open or a click; the subject says it is a test.
"""

from __future__ import annotations

import email
import email.policy
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.db import db
from lists.models import ConsentRecord
from mailer.outbox import CapturedMessage, Outbox
from tests.helpers import csrf_token, login, run_jobs, statuses, submit
from tests.mailer.helpers import Workers
from tracking.flush import flush_events
from tracking.models import TrackingEvent

BROWSER = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Safari/537.36")
BODY = ('<p>{{ subscriber.name }}様、<a href="https://shop.example.jp/sale">セール</a></p>'
        '<p><a href="{{ optin_url }}">購読を確定する</a></p>')
TEST_PAGE = {"en": "This link is from a test or a preview", "ja": "テスト送信またはプレビューのリンクです"}


@pytest.fixture
def subject_prefix_setting() -> str:
    """KAIRAN_TEST_SUBJECT_PREFIX (empty: unset); a test that sets it parametrises this."""
    return ""


@pytest.fixture
def settings_env(settings_env: dict[str, str], subject_prefix_setting: str) -> dict[str, str]:
    return {**settings_env, "KAIRAN_TEST_SUBJECT_PREFIX": subject_prefix_setting}


@pytest.fixture
def campaign(client: FlaskClient, editor: dict[str, str]) -> dict[str, Any]:
    """A campaign in the default layout (unsubscribe and preferences links) for a customer on two lists.

    hanako@ has confirmed 週刊 and not yet ダブル (double opt-in), so an opt-in link has something to confirm.
    """
    weekly = client.post("/api/lists", headers=editor, json={"name": "週刊"}).get_json()["data"]["id"]
    double = client.post("/api/lists", headers=editor, json={"name": "ダブル", "optin": "double"}).get_json()
    client.post("/api/subscribers", headers=editor, json={"email": "hanako@example.jp", "name": "佐藤 花子",
                                                          "lists": [weekly], "preconfirm_subscriptions": True})
    reader = client.get("/api/subscribers", headers=editor).get_json()["data"]["results"][0]
    client.put("/api/subscribers/lists", headers=editor, json={
        "ids": [reader["id"]], "action": "add", "target_list_ids": [double["data"]["id"]], "status": "unconfirmed"})
    response = client.post("/api/campaigns", headers=editor, json={
        "name": "11月号", "subject": "11月のお知らせ", "content_type": "html", "body": BODY, "lists": [weekly]})
    return {**response.get_json()["data"], "reader_id": reader["id"]}


def send_test(app: Flask, client: FlaskClient, capture: Outbox, editor: dict[str, str], campaign: dict[str, Any],
              language: str = "en") -> CapturedMessage:
    """Send the campaign's test to boss@, rendered as hanako@, through a real worker and the capture server."""
    response = client.post(f"/api/campaigns/{campaign['id']}/test", headers={**editor, "Accept-Language": language},
                           json={"subscribers": ["boss@example.com"], "subscriber_id": campaign["reader_id"]})
    assert response.get_json() == {"data": True}
    run_jobs(app)
    entries, _total = capture.page(1, 1)
    message = capture.get(entries[0].key)
    assert message is not None and "佐藤 花子様" in (message.html or "")  # personalised for the customer
    return message


def local(url: str) -> str:
    """The path and query of a link to Kairan (the test client has no host)."""
    parts = urlsplit(url.replace("&amp;", "&"))
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def reader_links(html: str) -> dict[str, str]:
    """The unsubscribe, preferences and opt-in links of a message's HTML."""
    found = {kind: re.search(rf'href="(http://[^"]+{path}[^"]+)"', html) for kind, path in
             (("unsubscribe", "/u/"), ("preferences", "/p/"), ("optin", "/subscription/optin/"))}
    assert all(found.values()), html
    return {kind: local(match[1]) for kind, match in found.items() if match}


def consent_records(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(ConsentRecord)) or 0)


def tracking_events(app: Flask) -> int:
    """Every open and click recorded, once the stream is flushed into the database."""
    with app.app_context():
        flush_events()
        return int(db.session.scalar(select(func.count()).select_from(TrackingEvent)) or 0)


def press_everything(app: Flask, links: dict[str, str]) -> None:
    """What a colleague, their mail provider and a scanner may do with a test's links: GET and POST each.

    Each answer is the test page (in English and in Japanese), never the page that acts. Gmail's
    one-click POST comes with no cookie and no CSRF token; the pages' own forms POST with both.
    """
    provider, browser = app.test_client(use_cookies=False), app.test_client()
    for kind, path in links.items():
        for language, words in TEST_PAGE.items():
            page = provider.get(path, headers={"Accept-Language": language})
            assert page.status_code == 200 and words in page.get_data(as_text=True), (kind, language)
        if kind == "unsubscribe":
            answer = provider.post(path, data={"List-Unsubscribe": "One-Click"})
        else:  # what the real page's form would post: leave every list, change the name, confirm
            answer = browser.post(path, data={"csrf_token": csrf_token(browser, "/login"), "name": "別人", "l": [],
                                              "confirm": "true"})
        assert answer.status_code == 200 and TEST_PAGE["en"] in answer.get_data(as_text=True), kind


@pytest.mark.usefixtures("users")  # the login page, whose CSRF token the pages' forms would post
def test_a_test_sent_as_a_real_subscriber_changes_nothing_through_any_of_its_links(
        app: Flask, client: FlaskClient, capture: Outbox, editor: dict[str, str], campaign: dict[str, Any]) -> None:
    message = send_test(app, client, capture, editor, campaign)
    before = consent_records(app)
    headers = email.message_from_string(message.raw, policy=email.policy.default)
    one_click = re.fullmatch(r"<(http://[^>]+)>", str(headers["List-Unsubscribe"]))
    assert one_click and headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    press_everything(app, {"unsubscribe": local(one_click[1])})
    press_everything(app, reader_links(message.html or ""))
    assert statuses(app, "hanako@example.jp") == {"週刊": "confirmed", "ダブル": "unconfirmed"}
    assert consent_records(app) == before
    with app.app_context():
        assert client.get("/api/subscribers", headers=editor).get_json()["data"]["results"][0]["name"] == "佐藤 花子"
    # Untracked: its links go straight to their pages and it loads no pixel, so nothing it does is counted.
    html = message.html or ""
    assert "/o/" not in html and "/c/" not in html and 'href="https://shop.example.jp/sale"' in html
    assert tracking_events(app) == 0


@pytest.mark.parametrize(("language", "prefix"), [("en", "[Test] "), ("ja", "[テスト] ")])
def test_a_tests_subject_says_so_in_the_senders_language(
        app: Flask, client: FlaskClient, capture: Outbox, editor: dict[str, str], campaign: dict[str, Any],
        language: str, prefix: str) -> None:
    message = send_test(app, client, capture, editor, campaign, language)
    assert message.entry.subject == f"{prefix}11月のお知らせ"


@pytest.mark.parametrize("subject_prefix_setting", ["【社内確認】"])
def test_the_prefix_is_a_setting(app: Flask, client: FlaskClient, capture: Outbox, editor: dict[str, str],
                                 campaign: dict[str, Any]) -> None:
    message = send_test(app, client, capture, editor, campaign, "ja")
    assert message.entry.subject == "【社内確認】 11月のお知らせ"


@pytest.mark.usefixtures("users")
def test_previews_as_a_real_subscriber_link_to_the_test_page(
        app: Flask, client: FlaskClient, editor: dict[str, str], campaign: dict[str, Any]) -> None:
    before = consent_records(app)
    login(client, "editor")  # the page's frame; the API answers the token
    for preview in (f"/api/campaigns/{campaign['id']}/preview?subscriber_id={campaign['reader_id']}",
                    f"/campaigns/{campaign['id']}/preview.html?reader=hanako@example.jp"):
        html = client.get(preview, headers=editor).get_data(as_text=True)
        assert "佐藤 花子様" in html, preview
        press_everything(app, reader_links(html))
    assert statuses(app, "hanako@example.jp") == {"週刊": "confirmed", "ダブル": "unconfirmed"}
    assert consent_records(app) == before


def test_a_test_sent_from_the_campaign_page_by_a_real_worker_ticks_the_setup_checklist(
        app: Flask, client: FlaskClient, users: dict[str, str], capture: Outbox, campaign: dict[str, Any],
        workers: Workers) -> None:
    admin = app.test_client()
    login(admin, "admin")
    assert 'data-step="test_mail" data-done="false"' in admin.get("/").get_data(as_text=True)
    login(client, "editor")
    page = f"/campaigns/{campaign['id']}/preview"
    assert submit(client, page, f"/campaigns/{campaign['id']}/test", addresses="boss@example.com").status_code == 302
    assert 'data-step="test_mail" data-done="false"' in admin.get("/").get_data(as_text=True)  # queued, not sent
    worker = workers.start("--burst")  # `flask worker`, as deployed: another process, its own app and session
    assert worker.wait(60) == 0, workers.tails()
    assert capture.count() == 1
    assert 'data-step="test_mail" data-done="true"' in admin.get("/").get_data(as_text=True)
