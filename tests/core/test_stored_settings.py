"""Settings edited in the browser: stored, checked with the readers' messages, in force on every process without a
restart; a variable set in the environment wins."""

from __future__ import annotations

import email
import email.policy
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from blinker import ANY
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from app import create_app
from core.db import db
from core.signals import settings_changed
from mailer.outbox import Outbox
from tests.helpers import api_user, csrf_token, error_summary, login, run_jobs, submit, wait_until
from tests.mailer.helpers import Workers, audience

LEGAL = ("KAIRAN_COMPANY_NAME", "KAIRAN_POSTAL_ADDRESS", "KAIRAN_CONTACT")


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """An installation whose legal details are left to the Settings page (none set in the environment)."""
    return {name: value for name, value in settings_env.items() if name not in LEGAL}


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    return {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}


def save_in_browser(client: FlaskClient, **values: str) -> Any:
    """Post the Settings page as it is shown, with these fields changed."""
    page = client.get("/settings").get_data(as_text=True)
    assert 'id="settings-form"' in page
    shown = {name: value["value"] for name, value in
             ((row["name"], row) for row in client.get("/api/settings", headers=ADMIN).get_json()["data"])}
    form = {name: value for name, value in shown.items() if name != "KAIRAN_TRACK_INDIVIDUALS"}
    form.update({name: unescape(value) for name, value in re.findall(r'<input id="(\w+)" name="\1" value="([^"]*)"',
                                                                     page)})  # a text field as the page fills it
    form = {name: value for name, value in form.items() if value}
    if shown.get("KAIRAN_TRACK_INDIVIDUALS") == "on":
        form["KAIRAN_TRACK_INDIVIDUALS"] = "on"
    return submit(client, "/settings", **{**form, **values})


ADMIN: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _admin_headers(admin: dict[str, str]) -> None:
    ADMIN.clear()
    ADMIN.update(admin)


def footer_of(outbox: Outbox, to: str) -> str:
    entries, _total = outbox.page(1, 50)
    raw = outbox.get(next(e.key for e in entries if to in e.to)).raw  # type: ignore[union-attr]
    message = email.message_from_string(raw, policy=email.policy.default)
    return str(message.get_body(("html",)).get_content())  # type: ignore[union-attr]


def start(client: FlaskClient, headers: dict[str, str], lists: list[int], name: str, **extra: Any) -> dict[str, Any]:
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": name, "subject": name, "content_type": "html", "lists": lists, "body": "<p>本文</p>",
        **extra}).get_json()["data"]
    return client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers,
                      json={"status": "running"}).get_json()


def test_legal_details_saved_in_the_browser_hold_for_the_next_campaign_without_a_restart(
        app: Flask, client: FlaskClient, users: dict[str, str], admin: dict[str, str], capture: Outbox) -> None:
    lists = audience(client, admin)
    refused = start(client, admin, lists, "一号")
    # The law's footer: nothing to send it with yet.
    assert "Set the postal address and the contact on the Settings page" in refused["message"]
    login(client, "admin")
    changed: list[dict[str, tuple[str, str]]] = []

    def receive(_sender: object, changes: dict[str, tuple[str, str]]) -> None:
        changed.append(changes)

    with settings_changed.connected_to(receive, sender=ANY):
        response = save_in_browser(client, KAIRAN_COMPANY_NAME="回覧商事", KAIRAN_POSTAL_ADDRESS="大阪市北区1-2-3",
                                   KAIRAN_CONTACT="info@kairan.example")
    assert response.status_code == 302
    assert changed == [{"KAIRAN_COMPANY_NAME": ("Kairan", "回覧商事"), "KAIRAN_POSTAL_ADDRESS": ("", "大阪市北区1-2-3"),
                        "KAIRAN_CONTACT": ("", "info@kairan.example"),
                        # the default sender is named after the company, and follows it
                        "KAIRAN_MAIL_FROM": ("Kairan <kairan@127.0.0.1>", "回覧商事 <kairan@127.0.0.1>")}]
    assert start(client, admin, lists, "二号")["data"]["status"] == "running"
    run_jobs(app)
    footer = footer_of(capture, "hanako@example.jp")
    assert "回覧商事" in footer and "大阪市北区1-2-3" in footer and "info@kairan.example" in footer

    save_in_browser(client, KAIRAN_POSTAL_ADDRESS="東京都千代田区4-5-6")
    capture.clear()
    assert start(client, admin, lists, "三号")["data"]["status"] == "running"
    run_jobs(app)
    assert "東京都千代田区4-5-6" in footer_of(capture, "hanako@example.jp")
    page = client.get("/settings").get_data(as_text=True)
    assert 'value="東京都千代田区4-5-6"' in page


def test_another_process_takes_a_change_on_its_next_request(app: Flask, settings_env: dict[str, str],
                                                            admin: dict[str, str]) -> None:
    other = create_app({**settings_env, "TESTING": True})  # another host: the same database, its own memory
    assert other.config["KAIRAN"].company_name == "Kairan"
    assert app.test_client().put("/api/settings", headers=admin, json={
        "KAIRAN_COMPANY_NAME": "回覧商事", "KAIRAN_TIMEZONE": "UTC", "KAIRAN_SOFT_BOUNCES": 5}).status_code == 200
    assert other.config["KAIRAN"].company_name == "Kairan"
    shown = {row["name"]: row for row in other.test_client().get("/api/settings", headers=admin).get_json()["data"]}
    assert other.config["KAIRAN"].company_name == "回覧商事" and other.config["KAIRAN"].timezone == "UTC"
    assert other.config["KAIRAN"].bounces.soft_count == 5
    assert shown["KAIRAN_COMPANY_NAME"]["source"] == "stored" and shown["KAIRAN_CONTACT"]["source"] == "default"
    # An empty value puts the default back.
    app.test_client().put("/api/settings", headers=admin, json={"KAIRAN_TIMEZONE": ""})
    other.test_client().get("/api/settings", headers=admin)
    assert other.config["KAIRAN"].timezone == "Asia/Tokyo"
    with other.app_context():
        db.engine.dispose()


def test_a_running_worker_sends_with_the_default_sender_saved_after_it_started(
        app: Flask, client: FlaskClient, settings_env: dict[str, str], admin: dict[str, str], capture: Outbox,
        tmp_path: Path) -> None:
    client.put("/api/settings", headers=admin, json={
        "KAIRAN_COMPANY_NAME": "回覧商事", "KAIRAN_POSTAL_ADDRESS": "大阪市北区1-2-3",
        "KAIRAN_CONTACT": "03-1234-5678"})
    lists = audience(client, admin)
    workers = Workers({**settings_env, "KAIRAN_SECRET_KEY": app.config["SECRET_KEY"]}, tmp_path)
    workers.start()
    try:
        assert client.put("/api/settings", headers=admin, json={
            "KAIRAN_MAIL_FROM": "お知らせ係 <news@kairan.example>"}).status_code == 200
        assert start(client, admin, lists, "四号")["data"]["status"] == "running"
        wait_until(lambda: capture.page(1, 10)[1] == 2, 60)
    finally:
        workers.stop_all()
    entries, _total = capture.page(1, 10)
    raw = capture.get(entries[0].key).raw  # type: ignore[union-attr]
    sender = email.message_from_string(raw, policy=email.policy.default)["From"]
    assert str(sender) == "お知らせ係 <news@kairan.example>"


BAD = {
    "KAIRAN_LOGO_URL": ("http://logo.example/x.png",
                        "KAIRAN_LOGO_URL 'http://logo.example/x.png' must start with https://, as browsers and mail "
                        "clients block or warn about images over http."),
    "KAIRAN_CONTACT": ("info@", "KAIRAN_CONTACT 'info@' has an @ but is not an email address such as info@example.jp."),
    "KAIRAN_MAIL_FROM": ("news", "KAIRAN_MAIL_FROM 'news' must be an address such as 'News <news@example.com>'."),
    "KAIRAN_TIMEZONE": ("Mars/Olympus", "KAIRAN_TIMEZONE 'Mars/Olympus' is not a time zone name such as Asia/Tokyo "
                                        "or UTC."),
    "KAIRAN_TRACK_INDIVIDUALS": ("maybe", "KAIRAN_TRACK_INDIVIDUALS must be on or off (also 1/0, true/false, "
                                          "yes/no), not 'maybe'."),
    "KAIRAN_TRACK_IP": ("keep", "KAIRAN_TRACK_IP must be one of truncate, hash, none, not 'keep'."),
    "KAIRAN_SOFT_BOUNCES": ("0", "KAIRAN_SOFT_BOUNCES must be a whole number of 1 or more, not '0'."),
    "KAIRAN_SOFT_BOUNCE_DAYS": ("a week", "KAIRAN_SOFT_BOUNCE_DAYS must be a whole number of 1 or more, not 'a week'."),
    "KAIRAN_COMPANY_NAME": ("回覧\n商事", "KAIRAN_COMPANY_NAME must be one line of text of at most 500 characters."),
    "KAIRAN_POSTAL_ADDRESS": ("大" * 501, "KAIRAN_POSTAL_ADDRESS must be one line of text of at most 500 characters."),
}


@pytest.mark.parametrize("name", list(BAD))
def test_each_bad_value_gets_its_message_on_the_page_and_in_the_api(
        app: Flask, client: FlaskClient, users: dict[str, str], admin: dict[str, str], name: str) -> None:
    value, message = BAD[name]
    answer = client.put("/api/settings", headers=admin, json={name: value})
    assert answer.status_code == 400 and answer.get_json() == {"message": message}
    login(client, "admin")
    if name not in ("KAIRAN_TRACK_INDIVIDUALS", "KAIRAN_TRACK_IP"):  # a checkbox and a menu: the API's to test
        response = save_in_browser(client, **{name: value})
        assert response.status_code == 400
        assert str(escape(message)) in response.get_data(as_text=True)
    assert client.get("/api/settings", headers=admin).get_json()["data"][0]["source"] == "default"


def test_several_bad_values_each_get_their_message_and_nothing_is_saved(
        client: FlaskClient, users: dict[str, str], admin: dict[str, str]) -> None:
    login(client, "admin")
    response = save_in_browser(client, KAIRAN_COMPANY_NAME="回覧商事", KAIRAN_TIMEZONE="Mars/Olympus",
                               KAIRAN_SOFT_BOUNCES="x")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and html.count('class="error"') == 2
    assert 'value="回覧商事"' in html  # what was typed stays
    # Above the form, a summary names each refused field, in the page's order, and links to it.
    assert error_summary(html)[1] == [
        ("KAIRAN_TIMEZONE",
         "Time zone: KAIRAN_TIMEZONE 'Mars/Olympus' is not a time zone name such as Asia/Tokyo or UTC."),
        ("KAIRAN_SOFT_BOUNCES",
         "Soft bounces that suppress an address: KAIRAN_SOFT_BOUNCES must be a whole number of 1 or more, not 'x'.")]
    assert client.get("/api/settings", headers=admin).get_json()["data"][0]["value"] == "Kairan"


def test_a_legal_detail_not_set_is_shown_empty_as_the_checklist_says_it_is_missing(
        client: FlaskClient, users: dict[str, str], admin: dict[str, str]) -> None:
    login(client, "admin")
    with client.session_transaction() as session:
        session["language"] = "ja"
    assert "未設定：会社名、住所、連絡先" in client.get("/").get_data(as_text=True)
    page = client.get("/settings").get_data(as_text=True)
    fields = dict(re.findall(r'<input id="(\w+)" name="\1" value="([^"]*)"', page))
    assert fields["KAIRAN_COMPANY_NAME"] == "" and 'placeholder="Kairan"' in page  # the default, as a hint
    assert fields["KAIRAN_POSTAL_ADDRESS"] == fields["KAIRAN_CONTACT"] == fields["KAIRAN_LOGO_URL"] == ""
    assert 'value="Kairan &lt;kairan@127.0.0.1&gt;"' in page  # a default not asked for by the law is shown
    # Saving the page as it is stores nothing; a company name typed in is saved and shown.
    assert save_in_browser(client).status_code == 302
    assert client.get("/api/settings", headers=admin).get_json()["data"][0]["source"] == "default"
    save_in_browser(client, KAIRAN_COMPANY_NAME="回覧商事")
    assert 'value="回覧商事"' in client.get("/settings").get_data(as_text=True)
    assert "未設定：住所、連絡先" in client.get("/").get_data(as_text=True)


def test_a_refusal_for_missing_legal_details_links_the_settings_page_for_whom_may_open_it(
        client: FlaskClient, users: dict[str, str]) -> None:
    def activate_printer_reminder(username: str) -> str:
        login(client, username)
        with client.session_transaction() as session:
            session["language"] = "ja"
        created = submit(client, "/automations/", "/automations/new", recipe="printer")
        builder = created.headers["Location"]
        refused = submit(client, builder, f"{builder}/status", move="activate")
        page = client.get(refused.headers["Location"]).get_data(as_text=True)
        client.post("/logout", data={"csrf_token": csrf_token(client, builder)})
        flash = page[page.index('class="flash flash-error"'):]
        return flash[:flash.index("</div>")]

    flash = activate_printer_reminder("admin")
    assert '配信できません: <a href="/settings">設定画面</a>で住所と連絡先を設定してください' in flash, flash
    flash = activate_printer_reminder("editor")  # no access to the settings: no link
    assert "配信できません: 設定画面で住所と連絡先を設定してください" in flash and "<a" not in flash, flash


def test_refused_in_japanese(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "admin")
    with client.session_transaction() as session:
        session["language"] = "ja"
    response = save_in_browser(client, KAIRAN_SOFT_BOUNCES="0")
    message = "KAIRAN_SOFT_BOUNCES は 1 以上の整数にしてください（'0' は使えません）。"
    assert str(escape(message)) in response.get_data(as_text=True)


@pytest.mark.parametrize(("body", "message"), [
    ({"KAIRAN_PORT": "8000"}, "KAIRAN_PORT is not a setting that can be changed here."),
    ({"KAIRAN_COMPANY_NAME": ["回覧商事"]}, "KAIRAN_COMPANY_NAME must be text."),
    ({"KAIRAN_TRACK_INDIVIDUALS": True}, "KAIRAN_TRACK_INDIVIDUALS must be text."),
])
def test_what_cannot_be_changed_here_is_refused(client: FlaskClient, admin: dict[str, str], body: dict[str, Any],
                                                message: str) -> None:
    answer = client.put("/api/settings", headers=admin, json=body)
    assert answer.status_code == 400 and answer.get_json() == {"message": message}


def test_only_admins_see_or_change_settings(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor', 'shop')}"}
    assert client.get("/api/settings", headers=editor).status_code == 403
    assert client.put("/api/settings", headers=editor, json={"KAIRAN_COMPANY_NAME": "x"}).status_code == 403
    login(client, "editor")
    assert client.get("/settings").status_code == 403


class TestEnvironmentWins:
    @pytest.fixture
    def settings_env(self, settings_env: dict[str, str]) -> dict[str, str]:
        return {**settings_env, "KAIRAN_COMPANY_NAME": "環境商事", "KAIRAN_SOFT_BOUNCES": "4"}

    def test_the_page_shows_it_read_only_with_the_reason_and_a_save_leaves_it(
            self, app: Flask, client: FlaskClient, users: dict[str, str], admin: dict[str, str]) -> None:
        login(client, "admin")
        page = client.get("/settings").get_data(as_text=True)
        field = page[page.index('data-setting="KAIRAN_COMPANY_NAME"'):]
        field = field[:field.index("</div>")]
        assert 'value="環境商事"' in field and "readonly" in field and "data-locked" in field
        assert "Set by the environment variable KAIRAN_COMPANY_NAME, which wins over this page" in field
        assert submit(client, "/settings", KAIRAN_COMPANY_NAME="ブラウザ商事",
                      KAIRAN_POSTAL_ADDRESS="大阪市").status_code == 302  # a read-only field is not taken
        assert app.config["KAIRAN"].company_name == "環境商事" and app.config["KAIRAN"].postal_address == "大阪市"
        answer = client.put("/api/settings", headers=admin, json={"KAIRAN_SOFT_BOUNCES": "9"})
        assert answer.status_code == 400 and answer.get_json() == {
            "message": "KAIRAN_SOFT_BOUNCES is set in the environment, which wins: change it there."}
        shown = {row["name"]: row for row in client.get("/api/settings", headers=admin).get_json()["data"]}
        assert shown["KAIRAN_SOFT_BOUNCES"] == {"name": "KAIRAN_SOFT_BOUNCES", "value": "4", "source": "environment",
                                                "editable": False, "label": "Soft bounces that suppress an address"}


def test_a_choice_is_offered_in_words_and_saved_as_its_code(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "admin")
    html = client.get("/settings", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert '<option value="truncate" selected>ネットワーク部分だけ残す（末尾を切り捨て）</option>' in html
    assert '<option value="none" >残さない</option>' in html
    assert save_in_browser(client, KAIRAN_TRACK_IP="hash").status_code in (200, 302)
    html = client.get("/settings", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert '<option value="hash" selected>ハッシュ化（同じ人とわかるが、読み取れない）</option>' in html
