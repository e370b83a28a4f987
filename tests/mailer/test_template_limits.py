"""Templates cannot exhaust a process: what saving refuses, what a render stops, what a send records.

Every template here would have taken gigabytes or minutes before the limits: saving refuses
them with their line, previews and test sends answer 400 naming the limit, and a campaign
send fails only the delivery whose reader makes the template go past a limit.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from core.db import db
from core.queues import queue
from lists.models import Subscriber
from mailer.errors import RenderError, TemplateError
from mailer.limits import MAX_RENDER_SECONDS, RenderLimitError
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mailer.outbox import Outbox
from mailer.queues import SEND_QUEUE
from mailer.sandbox import HTML_ENV, TEXT_ENV, check_source
from tests.helpers import login, run_jobs, submit
from tests.mailer.helpers import create

# A template that must go past a limit, and what the refusal names.
BAD = {
    "text": ("{{ 'A' * 2000000000 }}", "2,000,000,000 characters; the limit is 1,000,000"),
    "power": ("{{ 3**(3**16) }}", "more than 10,000 bits"),
    "range": ("{% for i in range(10**9) %}{{ i }}{% endfor %}", "range() of 1,000,000,000 numbers"),
    "loops": ("{% for i in range(1000) %}{% for j in range(1000) %}.{% endfor %}{% endfor %}",
              "would run 1,000,000 times; the limit is 100,000"),
    "list": ("{{ [1, 2] * 10**6 }}", "2,000,000 items"),
    "format width": ("{{ '%0999999999d' % 1 }}", "999,999,999 characters"),
    "padding": ("{{ 'x' | center(10**9) }}", "1,000,000,000 characters"),
    "text made": ("{{ 'x' * 1000000 }}" * 25, "more than 20,000,000 characters of text"),
}


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("kind", BAD)
def test_saving_refuses_what_must_exceed_a_limit_naming_the_line(kind: str) -> None:
    source, limit = BAD[kind]
    with pytest.raises(TemplateError) as refused:
        check_source(f"<p>{{{{ subscriber.name }}}}様</p>\n<p>こんにちは</p>\n{source}")
    assert refused.value.line == 3
    assert refused.value.message.startswith("Line 3: ") and limit in refused.value.message


@pytest.mark.usefixtures("ctx")
def test_limits_that_only_the_data_shows_stop_the_render() -> None:
    template = HTML_ENV.from_string(check_source(
        "{{ 'A' * n }}{{ 3 ** e }}{% for i in range(r) %}.{% endfor %}{{ s.ljust(w) }}").source)
    fine = {"n": 3, "e": 4, "r": 2, "s": "x", "w": 3}
    assert template.render(fine) == "AAA81..x  "
    for name, value, limit in [("n", 2_000_000_000, "2,000,000,000 characters"), ("e", 3**16, "10,000 bits"),
                               ("r", 10**9, "range() of 1,000,000,000"), ("w", 10**9, "1,000,000,000 characters")]:
        with pytest.raises(RenderLimitError, match=re.escape(limit)):
            template.render({**fine, name: value})
    # A text that doubles itself in macros, or joins or replaces itself into gigabytes.
    doubling = "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s }}{% endif %}{% endmacro %}"
    for source in [doubling + "{{ d('x', 40) }}", "{{ ('x' * 100000) | replace('x', 'y' * 100000) }}",
                   "{{ ('y' * 100000).join('x' * 100000) }}", "{{ ['x' * 100000] * 100000 }}"]:
        with pytest.raises(RenderLimitError, match="characters"):
            HTML_ENV.from_string(source).render()


@pytest.mark.usefixtures("ctx")
def test_loops_output_and_time_have_their_budget() -> None:
    nested = "{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}"
    with pytest.raises(RenderLimitError, match="loops run more than 100,000 times"):
        TEXT_ENV.from_string(nested).render(n=100_000)
    with pytest.raises(RenderLimitError, match="longer than 1,000,000 characters"):
        TEXT_ENV.from_string("{% for i in range(n) %}{{ s }}{% endfor %}").render(n=20, s="x" * 100_000)
    # Text written in loops and in buffers (a macro, a set block) counts as it is written, before it is joined.
    with pytest.raises(RenderLimitError, match="more than 20,000,000 characters"):
        TEXT_ENV.from_string("{% for i in range(n) %}" + "x" * 1000 + "{% endfor %}").render(n=50_000)
    with pytest.raises(RenderLimitError, match="more than 20,000,000 characters"):
        TEXT_ENV.from_string("{% set s = 'x' * 1000000 %}{% set t %}" + "{{ s }}" * 30 + "{% endset %}").render()
    # Within every size limit but slow: each run scans a long text. Stopped at its budget, not minutes later.
    slow = "{% for i in range(300) %}{% for j in range(300) %}{{ s.count('ab' ~ j) }}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(RenderLimitError, match=f"longer than {MAX_RENDER_SECONDS:g} s"):
        TEXT_ENV.from_string(slow).render(s="ba" * 500_000)
    assert time.monotonic() - started < 15  # unbounded, it would run for half a minute or more


@pytest.mark.usefixtures("ctx")
def test_str_format_stays_refused_when_its_name_is_built_at_render_time() -> None:
    with pytest.raises(RenderError):
        HTML_ENV.from_string("{{ '{:>999999999}'['for' ~ 'mat'](1) }}").render()


def _store_body(app: Flask, campaign_id: int, body: str) -> None:
    """A campaign saved before the limits existed: the body goes straight into the table."""
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.body = body
        db.session.commit()


@pytest.mark.parametrize("kind", ["text", "power", "range", "list", "format width", "padding"])
def test_preview_and_test_send_answer_400_naming_the_limit(app: Flask, client: FlaskClient, capture: Outbox,
                                                          editor: dict[str, str], kind: str) -> None:
    source, limit = BAD[kind]
    list_id = client.post("/api/lists", headers=editor, json={"name": "お知らせ"}).get_json()["data"]["id"]
    campaign = create(client, editor, body="<p>{{ subscriber.name }}様</p>", lists=[list_id])
    refused = client.put(f"/api/campaigns/{campaign['id']}", headers=editor, json={"body": source})
    assert refused.status_code == 400 and limit in refused.get_json()["message"]
    # listmonk previews an unsaved body; an old campaign may hold one saved before the limits.
    posted = client.post(f"/api/campaigns/{campaign['id']}/preview", headers=editor, data={"body": source})
    assert posted.status_code == 400 and limit in posted.get_json()["message"]
    _store_body(app, campaign["id"], source)
    preview = client.get(f"/api/campaigns/{campaign['id']}/preview", headers=editor)
    assert preview.status_code == 400 and limit in preview.get_json()["message"]
    test = client.post(f"/api/campaigns/{campaign['id']}/test", headers=editor, json={"subscribers": ["a@example.jp"]})
    assert test.status_code == 400 and limit in test.get_json()["message"]
    started = client.put(f"/api/campaigns/{campaign['id']}/status", headers=editor, json={"status": "running"})
    assert started.status_code == 400 and limit in started.get_json()["message"]
    run_jobs(app)
    assert capture.page(1, 10)[1] == 0  # nothing was queued to fail in a worker


def test_the_pages_show_the_limit_on_preview_and_test_send(app: Flask, client: FlaskClient, capture: Outbox,
                                                          users: dict[str, str], editor: dict[str, str]) -> None:
    campaign = create(client, editor, body="<p>{{ subscriber.name }}様</p>")
    _store_body(app, campaign["id"], "<p>a</p>\n" + BAD["text"][0])
    login(client, "editor")
    assert client.get(f"/campaigns/{campaign['id']}/preview.html").status_code == 400
    page = client.get(f"/campaigns/{campaign['id']}/preview", follow_redirects=True)
    assert page.status_code == 200 and BAD["text"][1] in page.get_data(as_text=True)
    # The preview page (with its test form) redirects to the editor: post the test as that form would.
    sent = submit(client, f"/campaigns/{campaign['id']}", f"/campaigns/{campaign['id']}/test", addresses="a@example.jp")
    assert sent.status_code == 302
    assert BAD["text"][1] in client.get(sent.headers["Location"], follow_redirects=True).get_data(as_text=True)
    run_jobs(app)
    assert capture.page(1, 10)[1] == 0


def test_a_campaign_send_fails_only_the_deliveries_that_cannot_render(app: Flask, client: FlaskClient,
                                                                      capture: Outbox,
                                                                      editor: dict[str, str]) -> None:
    list_id = client.post("/api/lists", headers=editor, json={"name": "お知らせ"}).get_json()["data"]["id"]
    readers: list[tuple[str, dict[str, Any], str | None]] = [
        ("ok@example.jp", {}, None),
        ("text@example.jp", {"n": 2_000_000_000}, "2,000,000,000 characters"),
        ("power@example.jp", {"e": 3**16}, "10,000 bits"),
        ("range@example.jp", {"r": 10**9}, "range() of 1,000,000,000"),
        ("zero@example.jp", {"d": 0}, "modulo by zero"),
        ("also-ok@example.jp", {"n": 2}, None),
    ]
    for address, attribs, _reason in readers:
        client.post("/api/subscribers", headers=editor, json={
            "email": address, "name": "読者", "lists": [list_id], "attribs": attribs,
            "preconfirm_subscriptions": True})
    body = ("<p>{{ 'A' * (subscriber.attribs.n | default(1)) }} {{ 3 ** (subscriber.attribs.e | default(1)) }}"
            " {% for i in range(subscriber.attribs.r | default(1)) %}.{% endfor %}"
            " {{ 10 // (subscriber.attribs.d | default(1)) }}</p>")
    campaign = create(client, editor, body=body, lists=[list_id])
    started = client.put(f"/api/campaigns/{campaign['id']}/status", headers=editor, json={"status": "running"})
    assert started.status_code == 200, started.get_json()
    run_jobs(app)
    entries, _total = capture.page(1, 10)
    assert sorted(entry.to for entry in entries) == ["読者 <also-ok@example.jp>", "読者 <ok@example.jp>"]
    with app.app_context():
        emails = dict(db.session.execute(select(Subscriber.id, Subscriber.email)).all())
        rows = {emails[d.subscriber_id or 0]: d for d in db.session.scalars(
            select(Delivery).where(Delivery.campaign_id == campaign["id"]))}
        for address, _attribs, reason in readers:
            if reason is None:
                assert rows[address].status == DeliveryStatus.SENT
            else:
                assert rows[address].status == DeliveryStatus.FAILED and reason in (rows[address].smtp_reply or "")
        assert db.session.get(Campaign, campaign["id"]).status == CampaignStatus.FINISHED  # type: ignore[union-attr]
        send = queue(SEND_QUEUE)
        assert FailedJobRegistry(queue=send).count == 0 and send.count == 0  # no job failed, none queued again


@pytest.mark.usefixtures("ctx")
def test_syntax_errors_are_translated_and_name_the_unclosed_tags_line() -> None:
    source = "<p>1</p>\n<p>2</p>\n<p>3</p>\n<p>4</p>\nこんにちは {{ subscriber.name \n\n<p>{{ campaign.name }}</p>"
    with pytest.raises(TemplateError) as refused:
        check_source(source)
    assert refused.value.line == 5 and refused.value.message == "Line 5: “{{” is not closed with “}}”."
    with force_locale("ja"), pytest.raises(TemplateError) as refused:
        check_source(source)
    assert refused.value.message == "5 行目：「{{」が「}}」で閉じられていません。"
    with force_locale("ja"), pytest.raises(TemplateError) as refused:
        check_source("a\n{% if subscriber.name %}\nb")
    assert refused.value.message == "2 行目：「{% if %}」が閉じられていません。「{% endif %}」を加えてください。"
    with force_locale("ja"), pytest.raises(TemplateError) as refused:
        check_source("a\n{{ subscriber.name subscriber.email }}")
    assert refused.value.message == "2 行目：「}}」があるべきところに「subscriber」があります。"


def test_the_api_says_a_syntax_error_in_the_callers_language_on_its_line(client: FlaskClient,
                                                                         editor: dict[str, str]) -> None:
    body = "<p>1</p>\n<p>2</p>\n<p>3</p>\n<p>4</p>\nこんにちは {{ subscriber.name \n\n<p>{{ campaign.name }}</p>"
    response = client.post("/api/campaigns", headers={**editor, "Accept-Language": "ja"},
                           json={"name": "11月号", "subject": "お知らせ", "content_type": "html", "body": body})
    assert response.status_code == 400
    assert response.get_json()["message"] == "本文：5 行目：「{{」が「}}」で閉じられていません。"
