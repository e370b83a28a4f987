"""What each bad request for a resend to non-openers gets, through the API and the form, in English and Japanese."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from core.db import db, utcnow
from tests.helpers import api_user, csrf_token, login
from tests.tracking.helpers import send_to_readers


def _api(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'news')}"
    return client


@pytest.mark.usefixtures("capture")
def test_each_bad_resend_request_gets_its_own_message(app: Flask) -> None:
    api = _api(app)
    original = send_to_readers(app, api, ("ann", "ben"), body="<p>秋のセール</p>")

    def resend(campaign_id: int, language: str = "en", **body: object) -> tuple[int, str]:
        answer = api.post(f"/api/campaigns/{campaign_id}/resend", json=body, headers={"Accept-Language": language})
        return answer.status_code, answer.get_json().get("message", "")

    draft = api.post("/api/campaigns", json={"name": "下書き", "subject": "下書き", "content_type": "html",
                                              "lists": [1]}).get_json()["data"]["id"]
    assert resend(draft, subject="再送") == (400, "Only a finished or cancelled campaign can be resent to those who "
                                                  "did not open it (this one is draft).")
    assert resend(draft, "ja", subject="再送")[1] == ("未開封者への再送ができるのは、配信が完了または中止された"
                                                   "キャンペーンだけです（このキャンペーンは draft です）。")
    assert api.get(f"/api/campaigns/{draft}/resend").status_code == 400  # no counts for it either
    assert resend(original, subject="  ") == (400, "Enter the resend's subject.")
    assert resend(original, "ja", subject="") == (400, "再送の件名を入力してください。")
    past = (utcnow() - timedelta(minutes=5)).isoformat()
    status, message = resend(original, subject="再送", send_at=past)
    assert status == 400 and message.startswith("The send time ") and message.endswith("has passed: choose a time in "
                                                                                      "the future.")
    assert resend(original, subject="再送", send_at="2099-01-01T09:00") == (
        400, "send_at needs its UTC offset, like 2026-05-01T09:00:00+09:00.")
    assert resend(original, subject="再送", machine_openers="yes") == (400, "machine_openers must be true or false.")
    assert api.post(f"/api/campaigns/{original}/resend", data="[]", content_type="application/json").status_code == 400
    assert api.post("/api/campaigns/999999/resend", json={"subject": "再送"}).status_code == 400

    made = api.post(f"/api/campaigns/{original}/resend", json={"subject": "【再送】秋のセール"})
    assert made.status_code == 200, made.get_json()
    first = made.get_json()["data"]
    assert (first["status"], first["resend_of"], first["resend_machine_openers"]) == ("scheduled", original, False)
    assert resend(original, subject="もう一度") == (409, f"This campaign has a resend already: “{first['name']}”.")
    assert resend(first["id"], subject="三度目") == (400, "This campaign is a resend already: a resend cannot be "
                                                        "resent.")
    # The original cannot go while its resend waits to read its non-openers; the resend can, and then the original.
    deleted = api.delete(f"/api/campaigns/{original}")
    assert (deleted.status_code, deleted.get_json()["message"]) == (
        400, f"Its resend “{first['name']}” has not started: delete the resend first.")
    assert api.delete(f"/api/campaigns/{first['id']}").status_code == 200
    assert api.post(f"/api/campaigns/{original}/resend", json={"subject": "やり直し"}).status_code == 200


@pytest.mark.usefixtures("capture", "users")
def test_the_form_shows_a_refusal_under_its_field_and_keeps_what_was_typed(app: Flask) -> None:
    original = send_to_readers(app, _api(app), ("ann",), body="<p>秋のセール</p>")
    page = app.test_client()
    login(page, "editor")
    form = f"/campaigns/{original}/resend"
    shown = page.get(form, headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "開封もクリックもしなかった人" in shown and 'data-group="non_openers"' in shown
    token = csrf_token(page, form)
    answer = page.post(form, data={"csrf_token": token, "subject": "", "send_at": "2099-01-01T09:00"},
                       headers={"Accept-Language": "ja"})
    assert answer.status_code == 400
    assert "再送の件名を入力してください。" in answer.get_data(as_text=True)
    answer = page.post(form, data={"csrf_token": token, "subject": "再送です", "send_at": "2020-01-01T09:00"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "has passed: choose a time in the future." in html and "再送です" in html
    answer = page.post(form, data={"csrf_token": token, "subject": "再送です", "send_at": "2099-01-01T09:00",
                                   "machine_openers": "y"})
    assert answer.status_code == 302 and "/campaigns/" in answer.headers["Location"]
    viewer = app.test_client()
    login(viewer, "viewer")
    assert viewer.get(form).status_code == 403  # reading a report is not resending it


@pytest.mark.usefixtures("capture")
def test_without_individual_tracking_a_resend_is_refused_saying_why(settings_env: dict[str, str]) -> None:
    """Nobody is known to have opened when events name no reader: a resend would go to everyone, so it is refused."""
    anonymous = create_app({**settings_env, "TESTING": True, "KAIRAN_TRACK_INDIVIDUALS": "off"})
    api = _api(anonymous)
    original = send_to_readers(anonymous, api, ("ann",), body="<p>秋のセール</p>")
    for answer in (api.get(f"/api/campaigns/{original}/resend"),
                   api.post(f"/api/campaigns/{original}/resend", json={"subject": "再送"})):
        assert (answer.status_code, answer.get_json()["message"]) == (
            400, "Opens are not tracked per reader (KAIRAN_TRACK_INDIVIDUALS is off), so who missed a campaign "
                 "cannot be told.")
    answer = api.get(f"/api/campaigns/{original}/resend", headers={"Accept-Language": "ja"})
    assert answer.get_json()["message"].startswith("開封を受信者ごとに記録していない")
    assert api.get("/api/campaigns?status=scheduled").get_json()["data"]["total"] == 0  # nothing half made
    with anonymous.app_context():
        db.engine.dispose()
