"""Opens and clicks of a campaign really sent (RQ worker, capture SMTP), recorded through Redis and classified."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app import create_app
from core.db import db, utcnow
from core.queues import DEFAULT_QUEUE, queue, redis
from core.tokens import Mark, mark_token
from lists.models import Subscriber
from mailer.inert import BLANK_IMAGE
from mailer.models import Delivery
from mailer.outbox import Outbox
from mailer.sending import reconcile
from tests.helpers import api_user, login, run_jobs, statuses
from tests.resources import free_port
from tests.tracking.helpers import APPLE_MPP, BROWSER, GMAIL_PROXY, Tracked, recorded, send_tracked_campaign
from tracking.event_batch import store_batch
from tracking.flush import GROUP, _ensure_group, _parse, flush_events
from tracking.models import EventKind, TrackingEvent
from tracking.stream import STREAM


@pytest.fixture
def sent(app: Flask, client: FlaskClient, capture: Outbox) -> Tracked:
    """A campaign with two links sent to one reader per behaviour (send_tracked_campaign)."""
    return send_tracked_campaign(app, client, capture)


def firsts(app: Flask) -> dict[str, tuple[Any, Any]]:
    """Each reader's first open and first click, as the deliveries keep them."""
    with app.app_context():
        rows = db.session.execute(select(Subscriber.name, Delivery.first_open_at, Delivery.first_click_at)
                                  .join(Subscriber, Subscriber.id == Delivery.subscriber_id))
        return {name: (opened, clicked) for name, opened, clicked in rows}


def behave(client: FlaskClient, paths: Tracked) -> None:
    """What each reader's mail client (or the machine in front of it) does with the message."""
    gmail_pixel, _links = paths["gmail"]
    assert client.get(gmail_pixel, headers={"User-Agent": GMAIL_PROXY}).status_code == 200
    assert client.get(paths["apple"][0], headers={"User-Agent": APPLE_MPP}).status_code == 200
    for link in paths["scanner"][1]:  # every link, at once, looking like a browser
        assert client.get(link, headers={"User-Agent": BROWSER}).status_code == 302
    checker_pixel, checker_links = paths["checker"]
    head = client.head(checker_pixel, headers={"User-Agent": BROWSER})
    assert head.status_code == 200 and head.data == b"" and head.headers["Content-Type"] == "image/gif"
    assert client.head(checker_links[0], headers={"User-Agent": BROWSER}).status_code == 302
    assert client.get(checker_pixel, headers={"User-Agent": BROWSER, "Sec-Purpose": "prefetch"}).status_code == 200
    # The person's client blocks images: one click, no pixel.
    person = client.get(paths["person"][1][1], headers={"User-Agent": BROWSER})
    # A header is ASCII: the Japanese path and query go out percent-encoded (UTF-8), as browsers send them.
    assert person.status_code == 302
    assert person.headers["Location"] == "https://shop.example.jp/%E6%96%B0%E7%9D%80?%E8%89%B2=%E8%B5%A4"
    assert person.data == b"" and person.headers["Cache-Control"].startswith("no-store")
    assert client.get(paths["early"][1][0], headers={"User-Agent": BROWSER}).status_code == 302


def test_people_and_machines_are_told_apart_and_a_click_counts_as_an_open(
        app: Flask, client: FlaskClient, sent: Tracked) -> None:
    behave(client, sent)
    run_jobs(app)  # the first request queued a flush
    assert sorted(recorded(app)) == sorted([
        ("gmail", "open", True, "gmail_proxy"),
        ("apple", "open", False, "apple_mpp"),
        ("scanner", "click", False, "same_second_clicks"),
        ("scanner", "click", False, "same_second_clicks"),
        ("checker", "open", False, "head_request"),
        ("checker", "click", False, "head_request"),
        ("checker", "open", False, "prefetch_header"),
        ("person", "click", True, "person"),
        ("early", "click", False, "click_right_after_delivery"),
    ])
    seen = firsts(app)
    assert seen["gmail"][0] is not None and seen["gmail"][1] is None
    assert seen["person"][0] is not None and seen["person"][0] == seen["person"][1]  # the click is the open
    assert all(seen[name] == (None, None) for name in ("apple", "scanner", "checker", "early"))  # machines only
    with app.app_context():
        gmail = db.session.scalars(select(TrackingEvent).where(TrackingEvent.rule == "gmail_proxy")).one()
        person = db.session.scalars(select(TrackingEvent).where(TrackingEvent.rule == "person")).one()
    assert (gmail.user_agent, gmail.ip, gmail.client) == (GMAIL_PROXY, "127.0.0.0/24", "Gmail")
    assert (person.client, person.device, person.link_id is not None) == ("Chrome", "Mac", True)
    assert person.at.tzinfo is not None and abs(person.at - utcnow()) < timedelta(minutes=1)


def test_forged_unknown_and_swapped_tokens_record_nothing(app: Flask, client: FlaskClient, sent: Tracked) -> None:
    pixel, links = sent["person"]
    forged_pixel = pixel[:-5] + ("0" if pixel[-5] != "0" else "1") + ".gif"
    with app.app_context():
        unknown = mark_token(Mark.CLICK, 999_999, 999_999)  # signed here, but no such delivery or link
    for path in (forged_pixel, "/o/nonsense.gif", pixel.replace("/o/", "/c/").removesuffix(".gif")):
        assert client.get(path).status_code in (200, 404)
    for path in (links[0][:-1] + "x", f"/c/{unknown}", links[0].replace("/c/", "/o/") + ".gif"):
        answer = client.get(path)
        assert "Location" not in answer.headers  # a neutral page (or the pixel for /o/), never a redirect
    with app.app_context():
        assert redis().xlen(STREAM) == 0
        assert flush_events() == 0 and db.session.scalar(select(TrackingEvent.id)) is None


def another_app(request: pytest.FixtureRequest, **settings: str) -> Flask:
    """An app on the same database and data folder as the test's, with some settings changed."""
    return create_app({**request.getfixturevalue("settings_env"), **settings, "TESTING": True})


def test_the_pixel_and_the_redirect_answer_while_redis_is_down(
        request: pytest.FixtureRequest, sent: Tracked, caplog: pytest.LogCaptureFixture) -> None:
    client = another_app(request, KAIRAN_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()
    pixel = client.get(sent["person"][0], headers={"User-Agent": BROWSER})
    assert pixel.status_code == 200 and pixel.data.startswith(b"GIF89a")
    assert "no-store" in pixel.headers["Cache-Control"]
    click = client.get(sent["person"][1][0])
    assert click.status_code == 302 and click.headers["Location"] == "https://shop.example.jp/sale"
    assert "Redis did not take 1 open or click event(s)" in caplog.text  # once a minute, with the count since


def test_a_flusher_killed_after_reading_or_after_storing_loses_and_doubles_nothing(
        app: Flask, client: FlaskClient, sent: Tracked) -> None:
    behave(client, sent)
    with app.app_context():
        queue(DEFAULT_QUEUE).empty()  # the queued flush is not what this test is about
        connection = redis()
        _ensure_group(connection)
        assert len(read_as("killed-before-storing", 3)) == 3  # read, never acknowledged: its flusher died
        stored_then_killed = read_as("killed-before-acking", 2)
        store_batch([event for event in (_parse(i, f) for i, f in stored_then_killed) if event is not None],
                app.config["KAIRAN"].tracking)  # the steps a flusher takes, but the acknowledgement
        db.session.commit()
        assert flush_events() == 9 - 2  # the two stored before the kill are not stored again
        assert connection.xpending(STREAM, GROUP)["pending"] == 0 and connection.xlen(STREAM) == 0
        assert db.session.query(TrackingEvent).count() == 9


def read_as(consumer: str, count: int) -> Any:
    """Read new stream entries as the flusher's group does, without acknowledging them."""
    answer: Any = redis().xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count)
    return answer[0][1]


def test_the_send_reconciler_flushes_what_a_lost_job_would_have(app: Flask, client: FlaskClient, sent: Tracked) -> None:
    client.get(sent["gmail"][0], headers={"User-Agent": GMAIL_PROXY})
    with app.app_context():
        queue(DEFAULT_QUEUE).empty()  # Redis lost the flush job (the stream itself is kept, with AOF)
        reconcile()
    assert recorded(app) == [("gmail", "open", True, "gmail_proxy")]


def test_reclassify_runs_the_rules_again_over_history(app: Flask, client: FlaskClient, sent: Tracked) -> None:
    behave(client, sent)
    run_jobs(app)
    before = recorded(app)
    with app.app_context():  # as if older rules had called every event a machine
        db.session.execute(update(TrackingEvent).values(human=False, rule="old_rule"))
        db.session.execute(update(Delivery).values(first_open_at=None, first_click_at=None))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["tracking", "reclassify"])
    assert result.exit_code == 0 and "Judged 9 event(s); 9 changed" in result.output
    assert recorded(app) == before
    assert firsts(app)["person"][0] is not None and firsts(app)["gmail"][0] is not None


def test_with_individual_tracking_off_counts_stay_and_no_person_is_recorded(
        app: Flask, request: pytest.FixtureRequest, sent: Tracked) -> None:
    private = another_app(request, KAIRAN_TRACK_INDIVIDUALS="off")
    behave(private.test_client(), sent)
    with private.app_context():
        assert flush_events() == 9
        events = db.session.scalars(select(TrackingEvent).order_by(TrackingEvent.stream_id)).all()
        assert {(e.delivery_id, e.user_agent, e.ip) for e in events} == {(None, None, None)}
        assert all(e.campaign_id == events[0].campaign_id for e in events)
        # Still told apart (the rules ran on what the request said, before it was dropped).
        assert sorted((e.kind.value, e.human, e.rule) for e in events if e.human) == [
            ("click", True, "person"), ("open", True, "gmail_proxy")]
        assert sum(1 for e in events if e.kind == EventKind.CLICK and e.link_id) == 5
    assert all(value == (None, None) for value in firsts(app).values())


@pytest.mark.usefixtures("users")
def test_viewing_a_message_in_the_outbox_is_not_its_readers_open_or_click_and_test_sends_carry_none(
        app: Flask, client: FlaskClient, capture: Outbox, sent: Tracked) -> None:
    login(client, "admin")
    key = next(e.key for e in capture.page(1, 50)[0] if e.to.endswith("<person@example.jp>"))
    frame = client.get(f"/outbox/{key}/html").get_data(as_text=True)
    text_panel = re.search(r'id="panel-text"><pre>(.*?)</pre>', client.get(f"/outbox/{key}").get_data(as_text=True),
                           re.DOTALL)
    pixel, links = sent["person"]
    # Shown as the reader sees it, but the pixel loads nothing and the links go straight where they lead.
    assert pixel not in frame and not any(link in frame for link in links) and BLANK_IMAGE in frame
    assert 'href="https://shop.example.jp/sale"' in frame
    assert 'href="https://shop.example.jp/%E6%96%B0%E7%9D%80?%E8%89%B2=%E8%B5%A4"' in frame  # as the campaign holds it
    assert text_panel and "/c/" not in text_panel[1] and "https://shop.example.jp/sale" in text_panel[1]
    # Whatever the admin's browser loads or follows in the frame records nothing, and unsubscribes no one.
    kairan_urls = [html.unescape(path) for path in re.findall(r'(?:src|href)="http://[^/"]+(/[^"]*)"', frame)]
    assert any(path.startswith("/u/") for path in kairan_urls) and any(path.startswith("/p/") for path in kairan_urls)
    for path in kairan_urls:
        assert client.get(path, headers={"User-Agent": BROWSER}).status_code == 200, path
        if path.startswith("/u/"):
            one_click = app.test_client(use_cookies=False).post(path, data={"List-Unsubscribe": "One-Click"})
            assert "This link is from a test or a preview" in one_click.get_data(as_text=True)
    with app.app_context():
        assert redis().xlen(STREAM) == 0 and flush_events() == 0
    assert statuses(app, "person@example.jp") == {"お知らせ": "confirmed"}
    # The reader's own mail client still counts: the message was shown inert, its tracking is not broken.
    client.get(pixel, headers={"User-Agent": BROWSER})
    with app.app_context():
        flush_events()
    assert recorded(app) == [("person", "open", True, "person")]
    headers = {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}
    campaign_id = client.get("/api/campaigns", headers=headers).get_json()["data"]["results"][0]["id"]
    client.post(f"/api/campaigns/{campaign_id}/test", headers=headers, json={"subscribers": ["boss@example.com"]})
    run_jobs(app)
    test = next(e for e in capture.page(1, 50)[0] if "boss@example.com" in e.to)
    test_html = capture.get(test.key).html or ""  # type: ignore[union-attr]
    assert "/o/" not in test_html and "/c/" not in test_html and "https://shop.example.jp/sale" in test_html
