"""Surveys in mail, on a campaign really sent (RQ worker, capture SMTP): a scanner that follows every survey link
records nothing, a person's confirm records once (the latest answer wins), and the answer is an event on the
timeline, an attribute and a segment rule's match, an automation's trigger, and the report's NPS."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from automations import lifecycle, triggers
from automations.models import Event, EventSource, Run
from core.db import db, utcnow
from lists.models import Subscriber
from lists.segment_rules import compile_rule
from mailer.models import Delivery
from mailer.outbox import Outbox
from surveys.models import SurveyAnswer
from surveys.results import nps
from tests.helpers import api_user, login, run_jobs
from tests.tracking.helpers import BROWSER

READERS = ("ann", "ben", "cat", "dan")
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def sent(app: Flask, client: FlaskClient, capture: Outbox) -> dict[str, dict[str, str]]:
    """A campaign with an NPS question and a yes/no question sent to READERS, an hour ago; each reader's tracked
    survey links by answer ("nps/9" -> /c/…)."""
    base = app.config["KAIRAN"].base_url
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    list_id = client.post("/api/lists", headers=headers, json={"name": "お客様"}).get_json()["data"]["id"]
    for name in READERS:
        client.post("/api/subscribers", headers=headers, json={
            "email": f"{name}@example.jp", "name": name, "lists": [list_id], "preconfirm_subscriptions": True})
    links = "".join(f'<a href="{base}/survey/nps/{n}">{n}</a>' for n in range(11))
    body = (f'<p>ご意見をお聞かせください</p><p>{links}</p><p><a href="{base}/survey/yes_no/yes">はい</a></p>'
            f'<p><a href="{base}/survey/satisfaction/4">4</a><a href="{base}/survey/satisfaction/5">5</a></p>')
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "アンケート", "subject": "ご意見をお聞かせください", "content_type": "html", "lists": [list_id],
        "body": body}).get_json()["data"]
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    run_jobs(app)
    with app.app_context():
        db.session.execute(update(Delivery).values(sent_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    found: dict[str, dict[str, str]] = {"campaign": {"id": str(campaign["id"])}}
    for entry in capture.page(1, 50)[0]:
        html = capture.get(entry.key).html or ""  # type: ignore[union-attr]
        clicks = re.findall(r'href="http://[^/"]+(/c/[0-9a-f-]+)"', html)
        answers = [f"nps/{n}" for n in range(11)] + ["yes_no/yes", "satisfaction/4", "satisfaction/5"]
        found[parseaddr(entry.to)[1].split("@")[0]] = dict(zip(answers, clicks, strict=True))
    return found


def confirm_page(client: FlaskClient, click: str) -> tuple[str, Any]:
    """Follow a tracked survey link as a browser does: the redirect, then the confirm page."""
    redirect = client.get(click, headers={"User-Agent": BROWSER})
    assert redirect.status_code == 302, redirect.status_code
    page = client.get(redirect.headers["Location"], headers={"User-Agent": BROWSER, "Accept-Language": "ja"})
    return redirect.headers["Location"], page


def answer(client: FlaskClient, click: str, comment: str = "") -> Any:
    """A person: open the confirm page from the mail, then press the button."""
    location, page = confirm_page(client, click)
    assert page.status_code == 200
    token = CSRF.search(page.get_data(as_text=True))
    assert token, page.get_data(as_text=True)
    return client.post(location, data={"csrf_token": token[1], "comment": comment, "d": location.split("d=")[1]},
                       headers={"Accept-Language": "ja"})


def answers(app: Flask) -> list[tuple[str, str, int, str]]:
    with app.app_context():
        return sorted((name, question, score, comment) for name, question, score, comment in db.session.execute(
            select(Subscriber.name, SurveyAnswer.question, SurveyAnswer.score, SurveyAnswer.comment)
            .join(Subscriber, Subscriber.id == SurveyAnswer.subscriber_id)))


def events(app: Flask) -> list[tuple[str, dict[str, Any], EventSource]]:
    with app.app_context():
        return sorted(((name, properties, source) for name, properties, source in db.session.execute(
            select(Subscriber.name, Event.properties, Event.source)
            .join(Subscriber, Subscriber.id == Event.subscriber_id).where(Event.name == "survey.answered"))),
            key=lambda row: (row[0], row[1]["question"]))


def test_a_scanner_following_every_survey_link_answers_nothing(app: Flask,
                                                               sent: dict[str, dict[str, str]]) -> None:
    scanner = app.test_client()
    for click in sent["ann"].values():  # every link at once, as a mail gateway's scanner fetches them
        location, page = confirm_page(scanner, click)
        assert "/survey/" in location and "d=" in location
        assert page.status_code == 200 and "回答を送信" in page.get_data(as_text=True)  # the page, not an answer
    prefetch = scanner.get(location, headers={"Sec-Purpose": "prefetch"})
    assert prefetch.status_code == 200
    assert scanner.head(location).status_code == 200
    # A POST without the page's CSRF token (not a person's tap on the page) is refused and records nothing.
    assert scanner.post(location, data={"d": location.split("d=")[1]}).status_code == 400
    assert answers(app) == [] and events(app) == []


def test_a_person_confirms_once_and_the_latest_answer_wins(app: Flask, sent: dict[str, dict[str, str]]) -> None:
    ann = app.test_client()
    done = answer(ann, sent["ann"]["nps/6"], "もう少し安ければ")
    assert done.status_code == 200 and "ご回答ありがとうございました" in done.get_data(as_text=True)
    assert answers(app) == [("ann", "nps", 6, "もう少し安ければ")]
    # She thinks again and taps 9: the page says what she answered before; one answer, one event, both the latest.
    _location, page = confirm_page(ann, sent["ann"]["nps/9"])
    assert "6 / 10" in page.get_data(as_text=True)
    assert answer(ann, sent["ann"]["nps/9"], "やっぱり満足").status_code == 200
    assert answers(app) == [("ann", "nps", 9, "やっぱり満足")]
    [(name, properties, source)] = events(app)
    assert (name, source) == ("ann", EventSource.SURVEY)
    assert properties == {"question": "nps", "score": 9, "answer": "9", "comment": "やっぱり満足",
                          "campaign_id": int(sent["campaign"]["id"]), "campaign": "アンケート"}
    with app.app_context():
        attribs = db.session.scalar(select(Subscriber.attribs).where(Subscriber.name == "ann"))
    assert attribs is not None and attribs["survey_nps"] == 9


def test_answers_reach_the_timeline_segments_and_the_report(app: Flask, client: FlaskClient,
                                                            sent: dict[str, dict[str, str]],
                                                            users: dict[str, str]) -> None:
    for reader, choice, comment in (("ann", "nps/10", "いつも助かっています"), ("ben", "nps/9", ""),
                                    ("cat", "nps/3", "届くのが遅い"), ("dan", "yes_no/yes", ""),
                                    ("ann", "satisfaction/4", ""), ("ben", "satisfaction/5", "")):
        assert answer(app.test_client(), sent[reader][choice], comment).status_code == 200
    assert nps({10: 1, 9: 1, 3: 1}) == pytest.approx(100 / 3)
    with app.app_context():
        def matching(rule: dict[str, Any]) -> list[str]:
            return sorted(db.session.scalars(select(Subscriber.name).where(compile_rule(rule))))
        promoters = {"field": "event", "op": "did", "value": {
            "name": "survey.answered", "property": {"key": "score", "op": "gte", "value": 9}}}
        assert matching(promoters) == ["ann", "ben"]
        assert matching({"field": "attribs.survey_nps", "op": "lte", "value": 6, "type": "number"}) == ["cat"]
        assert matching({"field": "attribs.survey_yes_no", "op": "eq", "value": "yes"}) == ["dan"]
        cat = db.session.scalar(select(Subscriber.id).where(Subscriber.name == "cat"))
    login(client, "viewer", **{"Accept-Language": "ja"})
    timeline = client.get(f"/subscribers/{cat}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "イベント「survey.answered」" in timeline and "届くのが遅い" in timeline
    report = client.get(f"/campaigns/{sent['campaign']['id']}/report",
                        headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "NPS +33" in report and "3件の回答" in report
    assert "届くのが遅い" in report and "いつも助かっています" in report
    assert "はい: 100.0%" in report and "平均 4.5 / 5" in report


def test_bad_survey_links_are_answered_clearly(app: Flask, client: FlaskClient,
                                               sent: dict[str, dict[str, str]]) -> None:
    location, _page = confirm_page(app.test_client(), sent["ann"]["nps/9"])
    token = location.split("d=")[1]
    unknown = client.get(f"/survey/stars/3?d={token}", headers={"Accept-Language": "en"})
    assert unknown.status_code == 404 and "names a question Kairan does not know" in unknown.get_data(as_text=True)
    out_of_range = client.get(f"/survey/nps/11?d={token}", headers={"Accept-Language": "ja"})
    assert out_of_range.status_code == 400 and "この質問では選べない回答" in out_of_range.get_data(as_text=True)
    forged = client.get("/survey/nps/9?d=1-0000000000000000", headers={"Accept-Language": "en"})
    assert forged.status_code == 200 and "This is a sample" in forged.get_data(as_text=True)
    long_comment = answer(app.test_client(), sent["ann"]["nps/9"], "あ" * 2001)
    assert long_comment.status_code == 400 and "2000" in long_comment.get_data(as_text=True)
    with app.app_context():  # the campaign's delivery is gone (a wipe): the survey is closed, said so
        db.session.execute(update(Delivery).values(subscriber_id=None))
        db.session.commit()
    closed = client.get(location, headers={"Accept-Language": "en"})
    assert closed.status_code == 404 and "This survey is closed" in closed.get_data(as_text=True)
    assert answers(app) == []


def test_an_answer_starts_an_automation_once(app: Flask, sent: dict[str, dict[str, str]]) -> None:
    draft = {"trigger": {"kind": "event", "event": "survey.answered"}, "start": "a",
             "steps": {"a": {"type": "wait", "mode": "duration", "days": 1, "next": None}}}
    with app.app_context():
        automation = lifecycle.create_automation("不満の声に電話する")
        lifecycle.update_automation(automation, draft=draft)
        lifecycle.activate(automation)
    ann = app.test_client()
    assert answer(ann, sent["ann"]["nps/2"]).status_code == 200
    assert answer(ann, sent["ann"]["nps/4"]).status_code == 200  # her second thought: the same answer, rewritten
    assert answer(app.test_client(), sent["ben"]["yes_no/yes"]).status_code == 200
    with app.app_context():
        triggers.react()
        started = sorted(db.session.scalars(select(Subscriber.name).join(Run, Run.subscriber_id == Subscriber.id)))
    assert started == ["ann", "ben"]


def test_a_deleted_subscribers_answer_keeps_the_score_and_forgets_them(app: Flask, client: FlaskClient,
                                                                      sent: dict[str, dict[str, str]]) -> None:
    assert answer(app.test_client(), sent["cat"]["nps/3"], "担当の佐藤さんの対応が悪かった").status_code == 200
    headers = {"Authorization": f"token {api_user(app, 'admin', 'privacy')}"}
    with app.app_context():
        cat = db.session.scalar(select(Subscriber.id).where(Subscriber.name == "cat"))
    assert client.delete(f"/api/subscribers/{cat}", headers=headers).status_code == 200
    with app.app_context():
        kept = db.session.execute(select(SurveyAnswer.subscriber_id, SurveyAnswer.score, SurveyAnswer.comment)).all()
    assert [tuple(row) for row in kept] == [(None, 3, "")]  # the campaign's NPS keeps it; nobody's words remain
