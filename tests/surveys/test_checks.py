"""The preview's check of a message's surveys: a question asked twice is warned of, in the reader's language;
one asked once, or a link that merely looks like a survey's, is not."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import api_user, login
from tests.mailer.helpers import create


def _block(base: str, question: str, answers: list[str]) -> str:
    return "<p>" + "".join(f'<a href="{base}/survey/{question}/{a}">{a}</a>' for a in answers) + "</p>"


def _checks(client: FlaskClient, campaign_id: int, language: str) -> str:
    return client.get(f"/campaigns/{campaign_id}/preview", headers={"Accept-Language": language}).get_data(as_text=True)


def test_a_survey_question_asked_twice_is_warned_of(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    base = app.config["KAIRAN"].base_url
    headers = {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}
    nps = _block(base, "nps", [str(n) for n in range(11)])
    yes_no = _block(base, "yes_no", ["yes", "no"])
    twice = create(client, headers, body=nps + yes_no + nps + '<a href="https://shop.example/survey/yes_no/yes">x</a>')
    once = create(client, headers, body=nps + yes_no)
    login(client, "editor")
    english = _checks(client, twice["id"], "en")
    assert ("The survey question “How likely are you to recommend us to a friend or colleague?” is in this message 2 "
            "times") in english
    assert "“Was this helpful?”" not in english  # asked once in the message; the shop's own link is not a survey
    japanese = _checks(client, twice["id"], "ja")
    assert ("アンケートの質問「当店を友人や同僚にすすめる可能性はどのくらいありますか？」"
            "がこのメッセージに2回あります。") in japanese
    assert "The survey question" not in _checks(client, once["id"], "en")
