"""The report's survey section: each answer's bar is its share of all the question's answers, the share column is
headed in words on the page, and NPS answers take their group's colour (detractors 0–6, passives 7–8, promoters)."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from core.db import db
from surveys.models import SurveyAnswer
from tests.helpers import api_user, login
from tests.mailer.helpers import create


def _answer(campaign_id: int, delivery_id: int, question: str, score: int) -> SurveyAnswer:
    return SurveyAnswer(campaign_id=campaign_id, delivery_id=delivery_id, question=question, score=score)


def _bar(report: str, answer: str) -> tuple[str, str]:
    """The colour class and width of one answer's bar in the report."""
    row = re.search(r'<tr data-answer="' + re.escape(answer) + r'">.*?</tr>', report, re.DOTALL)
    assert row, answer
    found = re.search(r'<div class="meter ?([a-z-]*)"[^>]*><span style="width: ([0-9.]+)%"', row.group(0))
    assert found, row.group(0)
    return found.group(1), found.group(2)


def test_bars_show_each_answers_share_in_its_nps_colour(app: Flask, client: FlaskClient,
                                                          users: dict[str, str]) -> None:
    headers = {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}
    campaign = create(client, headers)
    with app.app_context():
        db.session.add_all([_answer(campaign["id"], n, "nps", score) for n, score in enumerate((3, 9, 9, 7))]
                           + [_answer(campaign["id"], 1, "yes_no", 1)])
        db.session.commit()
    login(client, "editor")
    report = client.get(f"/campaigns/{campaign['id']}/report",
                        headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert _bar(report, "3 / 10") == ("nps-detractor", "25.0")  # one of four answers: a quarter, not the most
    assert _bar(report, "7 / 10") == ("nps-passive", "25.0")
    assert _bar(report, "9 / 10") == ("nps-promoter", "50.0")
    assert _bar(report, "0 / 10") == ("nps-detractor", "0.0")
    assert _bar(report, "はい") == ("", "100.0")  # not an NPS answer: the plain bar
    assert '<th scope="col">割合</th>' in report  # the header shown, not hidden for screen readers only
