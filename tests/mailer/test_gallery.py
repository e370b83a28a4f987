"""The gallery's starters: each compiles in the default layout, passes the pre-send checks in both languages,
scores at most 0 with SpamAssassin's local rules as the real pipeline builds it, and opens in the editors."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.gallery import LANGUAGES, campaign_values, get_starter, starter_preview, starters
from mailer.outbox import Outbox
from tests.helpers import login, run_jobs, submit

OCCASIONS = {"new_product", "sale", "event", "seasonal", "shop_news", "thank_you", "survey", "back_in_stock"}
KEYS = [starter.key for starter in starters()]
WIDTH = re.compile(r'(?<![\w-])width="(\d+)"|(?<![\w-])width:\s*(\d+)px')  # not max-width: 620px
SCORE = re.compile(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", re.MULTILINE)


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """A shop that sends from its own domain, as the checks ask."""
    return {**settings_env, "KAIRAN_MAIL_FROM": "こもれび雑貨店 <news@komorebi-zakka.jp>"}


def test_the_gallery_has_a_starter_for_each_occasion_in_both_languages() -> None:
    assert OCCASIONS <= set(KEYS)
    for starter in starters():
        assert starter.name("ja") != starter.name("en") and starter.description("ja") and starter.description("en")


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.usefixtures("ctx")
def test_each_starter_compiles_and_passes_the_checks(app: Flask, key: str) -> None:
    for lang in LANGUAGES:
        with app.test_request_context():
            shown = starter_preview(get_starter(key), lang)
        assert shown.missing == []
        assert [c for c in shown.checks if c["level"] != "ok"] == [], (lang, shown.checks)
        copy = get_starter(key).copy[lang]
        assert copy["headline"] in shown.html and copy["headline"] in shown.text  # the text part says it too
        assert re.search(r'href="[^"]*/u/[^"]+"', shown.html)  # the layout's footer: the unsubscribe link
        assert max(int(a or b) for a, b in WIDTH.findall(shown.html)) <= 600
        assert "{{" not in shown.html and "[[" not in shown.html


def _spam_score(raw: bytes) -> tuple[float, str]:
    report = subprocess.run(["spamassassin", "-L", "-t"], input=raw, capture_output=True, check=True,
                            timeout=120).stdout.decode("utf-8", "replace")
    match = SCORE.search(report)
    assert match, report
    return float(match[1]), report


def test_the_spam_score_is_read_from_spamassassins_report() -> None:
    """The measure can fail: a bare message (no Date, no Message-ID) scores above 0."""
    score, report = _spam_score(b"From: a@example.jp\nTo: b@example.jp\nSubject: hi\n\nhello\n")
    assert score > 0, report


@pytest.mark.parametrize("key", KEYS)
def test_each_starter_scores_at_most_zero_with_spamassassins_local_rules(
        app: Flask, client: FlaskClient, capture: Outbox, editor: dict[str, str], key: str) -> None:
    """Sent for real (a campaign to a subscriber, through a worker, tracked links and pixel included), each
    language's message is scored as its receiver would get it."""
    assert shutil.which("spamassassin"), "SpamAssassin is needed: .ci/run installs it (apt-get install spamassassin)"
    for lang in LANGUAGES:
        readers = client.post("/api/lists", headers=editor, json={"name": f"お知らせ {lang}"}).get_json()["data"]["id"]
        client.post("/api/subscribers", headers=editor, json={
            "email": f"tanaka-{lang}@example.jp", "name": "田中 花子", "lists": [readers],
            "preconfirm_subscriptions": True})
        with app.test_request_context():
            values = campaign_values(get_starter(key), lang)
        made = client.post("/api/campaigns", headers=editor, json={**values, "lists": [readers]}).get_json()["data"]
        started = client.put(f"/api/campaigns/{made['id']}/status", headers=editor, json={"status": "running"})
        assert started.status_code == 200, started.get_json()
        run_jobs(app)
        entries, _total = capture.page(1, 1)
        message = capture.get(entries[0].key)
        assert message is not None and message.text and message.html  # both parts, as the pipeline built them
        assert 'width="1" height="1"' in message.html  # a delivery's message: the open pixel is in it
        score, report = _spam_score(message.raw.encode())  # as delivered: with its Return-Path
        assert score <= 0, report
        capture.clear()


@pytest.mark.parametrize(("language", "names"), [("ja", "ja"), ("en", "en")])
def test_the_gallery_shows_each_starter_in_the_ui_language_with_a_phone_frame(
        client: FlaskClient, users: dict[str, str], language: str, names: str) -> None:
    login(client, "editor")
    page = client.get("/gallery/", headers={"Accept-Language": language}).get_data(as_text=True)
    for starter in starters():
        assert starter.name(names) in page
        assert f'src="/gallery/{starter.key}/preview.html?lang={names}"' in page
        assert f"/campaigns/new?starter={starter.key}&amp;lang={names}" in page
        assert f"/templates/new?starter={starter.key}&amp;lang={names}" in page
    other = "en" if names == "ja" else "ja"
    switched = client.get(f"/gallery/?lang={other}", headers={"Accept-Language": language}).get_data(as_text=True)
    assert all(starter.name(other) in switched for starter in starters())  # the copy's language, asked for


def test_a_starters_frame_is_the_message_in_the_default_layout(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "viewer")
    response = client.get("/gallery/sale/preview.html?lang=ja")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "sandbox" in response.headers["Content-Security-Policy"]
    assert "全品10%オフ" in html and "回覧商事" in html and "配信停止" in html  # the layout's legal footer
    assert 'style="' in html and "<style" not in html.split("</head>")[1]  # the CSS inlined by the compiler
    page = client.get("/gallery/").get_data(as_text=True)
    assert "/campaigns/new?starter=" not in page and "/templates/new?starter=" not in page  # a viewer only looks


@pytest.mark.parametrize(("language", "unknown", "bad_language"), [
    ("ja", "ギャラリーに「nope」というひな形はありません。", "language は次のいずれかにしてください：ja, en。"),
    ("en", "There is no starter “nope” in the gallery.", "language must be one of: ja, en."),
])
def test_bad_gallery_addresses_are_refused_in_words(client: FlaskClient, users: dict[str, str], language: str,
                                                      unknown: str, bad_language: str) -> None:
    login(client, "editor")
    headers = {"Accept-Language": language}
    missing = client.get("/gallery/nope/preview.html", headers=headers)
    assert missing.status_code == 404 and unknown in missing.get_data(as_text=True)
    for page in ("/gallery/?lang=fr", "/gallery/sale/preview.html?lang=fr"):
        refused = client.get(page, headers=headers)
        assert refused.status_code == 400 and bad_language in refused.get_data(as_text=True)
    for page in ("/campaigns/new?starter=nope", "/templates/new?starter=nope"):  # the empty editor, and why
        shown = client.get(page, headers=headers)
        assert shown.status_code == 200 and unknown in shown.get_data(as_text=True)


def test_a_campaign_started_from_a_starter_opens_in_the_visual_editor_and_saves(
        app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    page = client.get("/campaigns/new?starter=event&lang=en").get_data(as_text=True)
    assert 'id="visual-editor"' in page and "Taste our spring range" in page and "You are invited" in page
    form = re.search(r'name="draft" value="([^"]+)"', page)
    assert form
    with app.test_request_context():
        values = campaign_values(get_starter("event"), "en")
    saved = submit(client, "/campaigns/new", **{**values, "draft": form[1]})
    assert saved.status_code == 302
    reopened = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert 'id="visual-editor"' in reopened and "Taste our spring range" in reopened
    shown = client.get(saved.headers["Location"] + "/preview.html").get_data(as_text=True)
    assert "Taste our spring range" in shown and "Saturday 6 April" in shown


def test_a_layout_made_from_a_starter_keeps_its_design_around_the_content_slot(
        client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    page = client.get("/templates/new?starter=sale&lang=ja").get_data(as_text=True)
    assert "セールのご案内" in page and "{{ content }}" in page and "SPRING10" in page
    assert "日頃のご愛顧に感謝を込めて" not in page  # the sample text gives way to each campaign's body
    body = re.search(r'<textarea[^>]*name="body"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert body
    saved = submit(client, "/templates/new", name="セール", type="campaign", body=html.unescape(body[1]))
    assert saved.status_code == 302
    edited = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "SPRING10" in edited and "kairan:legal-footer" not in edited  # the default layout's footer was kept
    shown = submit(client, saved.headers["Location"], "/templates/preview", type="campaign",
                   body=html.unescape(body[1])).get_data(as_text=True)
    assert re.search(r"<h1[^>]*>Sample subject</h1>", shown)  # the headline is the campaign's subject

