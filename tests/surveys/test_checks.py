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


def _survey(base: str, question: str, answers: list[str], wording: str) -> str:
    """A survey block as the editor writes it: the question's row, then the answers' row."""
    cells = "".join(f'<td><a href="{base}/survey/{question}/{a}">{a}</a></td>' for a in answers)
    asked = f"<tr><td>{wording}</td></tr>" if wording else ""
    return (f'<table data-survey="{question}">{asked}<tr><td><table><tr>{cells}</tr></table></td></tr>'
            '<tr><td>すすめない</td><td>ぜひすすめたい</td></tr></table>')


def test_a_survey_block_left_without_its_question_is_warned_of(app: Flask, client: FlaskClient,
                                                                 users: dict[str, str]) -> None:
    base = app.config["KAIRAN"].base_url
    headers = {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}
    nps = [str(n) for n in range(11)]
    broken = create(client, headers, body="<p>ご意見をお聞かせください</p>" + _survey(base, "nps", nps, "")
                    + _survey(base, "yes_no", ["yes", "no"], "お役に立ちましたか？"))
    whole = create(client, headers, body=_survey(base, "nps", nps, "当店をすすめますか？")
                   + _block(base, "yes_no", ["yes", "no"]))  # links written by hand, no block: not a broken one
    login(client, "editor")
    english = _checks(client, broken["id"], "en")
    assert english.count("A survey block has its answer buttons but no question above them") == 1
    assert "(“How likely are you to recommend us to a friend or colleague?” was deleted)" in english
    japanese = _checks(client, broken["id"], "ja")
    assert ("アンケートのブロックに回答ボタンはありますが、"
            "その上の質問（「当店を友人や同僚にすすめる可能性はどのくらいありますか？」）がありません。") in japanese
    assert "no question above them" not in _checks(client, whole["id"], "en")
