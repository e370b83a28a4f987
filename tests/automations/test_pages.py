"""The automations' pages with the test client: the list, creating from recipes, the builder, saving the draft,
activation's refusal naming the step, pause, the dry run, the subscriber's runs, and what a viewer may not do."""

from __future__ import annotations

import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from automations.models import Automation, AutomationStatus
from automations.recipes import RECIPES
from core.db import db, utcnow
from lists.models import Subscriber
from mailer.models import Delivery, DeliveryStatus
from tests.helpers import csrf_token, login, submit, text_of
from tracking.models import Conversion


def _create(client: FlaskClient, recipe: str) -> int:
    response = submit(client, "/automations/", "/automations/new", recipe=recipe)
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.search(r"/automations/(\d+)$", response.headers["Location"])
    assert match
    return int(match.group(1))


@pytest.fixture
def editor(client: FlaskClient, users: dict[str, str]) -> FlaskClient:
    login(client, "editor")
    return client


def test_the_list_offers_every_recipe_and_each_creates_a_ready_automation(app: Flask, editor: FlaskClient) -> None:
    page = editor.get("/automations/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "まだオートメーションはありません" in text_of(page) and ">オートメーション</a>" in page
    for key in RECIPES:
        assert f'data-recipe="{key}"' in page
    ids = {key: _create(editor, key) for key in RECIPES}
    with app.app_context():
        printer = db.session.get(Automation, ids["printer"])
        assert printer is not None and printer.status == AutomationStatus.DRAFT
        steps = printer.draft["steps"]
        assert [s["type"] for s in steps.values()] == ["wait", "condition", "send", "wait_event", "goal", "exit"]
        assert isinstance(steps["remind"]["campaign_id"], int)
    listing = text_of(editor.get("/automations/").get_data(as_text=True))
    assert "Post-purchase reminder" in listing and "Draft" in listing
    # the printer reminder activates at once: its email is written, with the legal footer of the default layout
    response = submit(editor, f"/automations/{ids['printer']}", f"/automations/{ids['printer']}/status",
                      move="activate")
    assert response.headers["Location"].endswith(f"/automations/{ids['printer']}")
    builder = editor.get(f"/automations/{ids['printer']}").get_data(as_text=True)
    assert "Active" in text_of(builder) and "running version 1" in text_of(builder), text_of(builder)
    assert '"entered": 0' in unescape(builder)  # the cards' figures of the running version (the flow's data)
    listing = editor.get("/automations/").get_data(as_text=True)
    assert "v1" in listing
    # pause, then archive
    submit(editor, f"/automations/{ids['printer']}", f"/automations/{ids['printer']}/status", move="pause")
    with app.app_context():
        assert db.session.get(Automation, ids["printer"]).status == AutomationStatus.PAUSED  # type: ignore[union-attr]


def test_saving_a_draft_and_activation_refusal_names_the_step(app: Flask, editor: FlaskClient) -> None:
    automation_id = _create(editor, "printer")
    token = csrf_token(editor, f"/automations/{automation_id}")
    with app.app_context():
        draft = db.session.get(Automation, automation_id).draft  # type: ignore[union-attr]
    draft["steps"]["wait"]["days"] = 14
    draft["steps"]["check"]["expression"] = 'not did("purchase", within_days=14, category="ink")'
    saved = editor.post(f"/automations/{automation_id}/draft", json={"name": "プリンター", "draft": draft},
                        headers={"X-CSRFToken": token})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["draft"]["steps"]["check"]["rule"]["rules"][0]["value"]["within_days"] == 14
    bad = editor.post(f"/automations/{automation_id}/draft",
                      json={"draft": {**draft, "steps": {**draft["steps"], "check": {
                          **draft["steps"]["check"], "expression": "did("}}}}, headers={"X-CSRFToken": token})
    assert bad.status_code == 400 and bad.get_json()["step"] == "check"
    # a send step without a message: activation says so and names the step
    draft["steps"]["remind"]["campaign_id"] = None
    editor.post(f"/automations/{automation_id}/draft", json={"draft": draft}, headers={"X-CSRFToken": token})
    response = submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status",
                      move="activate")
    assert response.headers["Location"].endswith("?step=remind")
    page = editor.get(response.headers["Location"], headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "remind" in page and 'data-error-step="remind"' in page
    assert "まだメールがありません" in text_of(page) or "remind" in text_of(page)


def test_try_with_a_subscriber_shows_the_path_and_the_runs_show_on_their_page(app: Flask, editor: FlaskClient) -> None:
    with app.app_context():
        from lists.models import MailingList

        db.session.add(MailingList(name="ニュース"))
        db.session.commit()
    automation_id = _create(editor, "welcome")
    with app.app_context():
        from sqlalchemy import select

        from lists.models import Subscriber

        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == "hanako@example.jp"))
        if subscriber is None:
            subscriber = Subscriber(email="hanako@example.jp", email_key="hanako@example.jp", name="花子", attribs={})
            db.session.add(subscriber)
            db.session.commit()
        subscriber_id = subscriber.id
    page = editor.get(f"/automations/{automation_id}/try?email=hanako@example.jp").get_data(as_text=True)
    assert "sends the email" in text_of(page)
    # each step by the name its builder card gives it, the key beside it
    rows = re.findall(r'<tr data-step="(\w+)"><td>[^<]*</td><td>([^<]*)<small class="muted step-key"><code>\w+</code>',
                      page)
    assert [(key, unescape(label).strip()) for key, label in rows] == [
        ("welcome", "Send an email: ご登録ありがとうございます"),
        ("wait", "Wait: N days after entry, at HH:MM — N=3 10:00"),
        ("second", "Send an email: 人気の記事をご紹介します")]
    ja = text_of(editor.get(f"/automations/{automation_id}/try?email=hanako@example.jp",
                            headers={"Accept-Language": "ja"}).get_data(as_text=True))
    assert "メール送信: ご登録ありがとうございます welcome" in ja
    missing = text_of(editor.get(f"/automations/{automation_id}/try?email=nobody@example.jp").get_data(as_text=True))
    assert "No subscriber has this address." in missing
    with app.app_context():
        from automations.lifecycle import activate, get_automation
        from automations.triggers import enrol

        automation = get_automation(automation_id)
        activate(automation)
        assert enrol(automation, [subscriber_id]) == 1
    person = text_of(editor.get(f"/subscribers/{subscriber_id}").get_data(as_text=True))
    assert "Welcome series Waiting" in person
    with app.app_context():
        from automations.triggers import react

        react()  # the welcome email goes, the run waits at the wait step
    person = text_of(editor.get(f"/subscribers/{subscriber_id}", headers={"Accept-Language": "ja"})
                     .get_data(as_text=True))
    assert "待機中 待機: 登録からN日後 HH:MM — N=3 10:00 wait" in person  # the step they wait at, by its name


def test_a_viewer_reads_but_cannot_edit(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    automation_id = _create(client, "birthday")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/automations/")})
    login(client, "viewer")
    page = client.get("/automations/").get_data(as_text=True)
    assert "Birthday" in page and "data-recipe" not in page
    builder = client.get(f"/automations/{automation_id}").get_data(as_text=True)
    assert 'data-editable="false"' in builder and "save-draft" not in builder
    token = csrf_token(client, f"/automations/{automation_id}")
    assert client.post("/automations/new", data={"csrf_token": token, "recipe": "welcome"}).status_code == 403
    assert client.post(f"/automations/{automation_id}/draft", json={"draft": {}},
                       headers={"X-CSRFToken": token}).status_code == 403
    assert client.post(f"/automations/{automation_id}/status",
                       data={"csrf_token": token, "move": "activate"}).status_code == 403


def _subscriber(app: Flask, email: str) -> int:
    with app.app_context():
        from sqlalchemy import select

        from lists.models import Subscriber

        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        if subscriber is None:
            subscriber = Subscriber(email=email, email_key=email, name="", attribs={})
            db.session.add(subscriber)
            db.session.commit()
        return subscriber.id


def test_the_trigger_panel_offers_lists_segments_and_campaigns_and_its_rules_activate(
        app: Flask, editor: FlaskClient) -> None:
    with app.app_context():
        from lists.models import MailingList, Segment
        from mailer.models import Campaign

        db.session.add_all([MailingList(name="会員"), Segment(name="常連", rules={"match": "all", "rules": []}),
                            Campaign(name="秋のお知らせ", subject="秋", lists=[])])
        db.session.commit()
    automation_id = _create(editor, "printer")
    page = editor.get(f"/automations/{automation_id}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    data = unescape(page)  # the builder's data, in the flow's attribute
    assert '"name": "会員"' in data and '"name": "常連"' in data and '"name": "秋のお知らせ"' in data
    assert "id=\"automation-name\"" in page
    token = csrf_token(editor, f"/automations/{automation_id}")
    with app.app_context():
        draft = db.session.get(Automation, automation_id).draft  # type: ignore[union-attr]
    draft["trigger"] = {"kind": "event", "event": "purchase", "property": {"key": "price", "op": "gte", "value": 10000}}
    draft["entry"] = {"mode": "again_after", "days": 30}
    draft["exit"] = {"on_unsubscribe": True, "events": [{"event": "refund"}]}
    draft["quiet_hours"] = None
    saved = editor.post(f"/automations/{automation_id}/draft", json={"name": "高額購入のお礼", "draft": draft},
                        headers={"X-CSRFToken": token})
    assert saved.status_code == 200, saved.get_json()
    response = submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status",
                      move="activate")
    assert "step=" not in response.headers["Location"]
    with app.app_context():
        automation = db.session.get(Automation, automation_id)
        assert automation is not None and automation.name == "高額購入のお礼"
        assert automation.status == AutomationStatus.ACTIVE
    # a refusal about the rules points at the trigger card
    draft["entry"] = {"mode": "again_after", "days": 0}
    editor.post(f"/automations/{automation_id}/draft", json={"draft": draft}, headers={"X-CSRFToken": token})
    response = submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status",
                      move="activate")
    assert response.headers["Location"].endswith("?step=entry")


def test_rename_and_delete_only_a_draft_or_archived_automation(app: Flask, editor: FlaskClient) -> None:
    automation_id = _create(editor, "printer")
    token = csrf_token(editor, f"/automations/{automation_id}")
    bad = editor.post(f"/automations/{automation_id}/draft", json={"name": "  "}, headers={"X-CSRFToken": token})
    assert bad.status_code == 400 and "name" in bad.get_json()["message"]
    assert editor.post(f"/automations/{automation_id}/draft", json={"name": "インク"},
                       headers={"X-CSRFToken": token}).status_code == 200
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status", move="activate")
    page = editor.get(f"/automations/{automation_id}").get_data(as_text=True)
    assert "delete-form" not in page  # active: no delete button
    refused = submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/delete")
    assert refused.headers["Location"].endswith(f"/automations/{automation_id}")
    page = editor.get(refused.headers["Location"], headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "アーカイブしてから削除" in text_of(page) or "Archive the automation before deleting it" in text_of(page)
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status", move="archive")
    page = editor.get(f"/automations/{automation_id}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'id="delete-form"' in page and "data-confirm=" in page
    deleted = submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/delete")
    assert deleted.headers["Location"].endswith("/automations/")
    listing = text_of(editor.get("/automations/").get_data(as_text=True))
    assert "Automation “インク” deleted." in listing
    with app.app_context():
        assert db.session.get(Automation, automation_id) is None
    draft_id = _create(editor, "birthday")
    assert submit(editor, f"/automations/{draft_id}", f"/automations/{draft_id}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Automation, draft_id) is None


def test_an_editor_enrols_one_subscriber_or_a_segment(app: Flask, editor: FlaskClient) -> None:
    taro = _subscriber(app, "taro@example.jp")
    _subscriber(app, "jiro@example.jp")
    with app.app_context():
        from lists.models import Segment

        segment = Segment(name="example.jp の読者", rules={"match": "all", "rules": [
            {"field": "email", "op": "contains", "value": "@example.jp"}]})
        db.session.add(segment)
        db.session.commit()
        segment_id = segment.id
    automation_id = _create(editor, "printer")
    page = editor.get(f"/automations/{automation_id}").get_data(as_text=True)
    assert 'id="enrol"' not in page  # a draft offers no enrolment
    refused = submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/enrol",
                     email="taro@example.jp")
    page = text_of(editor.get(refused.headers["Location"]).get_data(as_text=True))
    assert "Activate the automation before enrolling subscribers." in page
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status", move="activate")
    page = editor.get(f"/automations/{automation_id}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'id="enrol"' in page and "読者を追加" in page and "example.jp の読者" in page
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/enrol", email="Taro@Example.jp")
    page = text_of(editor.get(f"/automations/{automation_id}").get_data(as_text=True))
    assert "Taro@Example.jp started the automation." in page
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/enrol", email="nobody@example.jp")
    assert "No subscriber has the address nobody@example.jp." in text_of(
        editor.get(f"/automations/{automation_id}").get_data(as_text=True))
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/enrol", segment_id=str(segment_id))
    page = text_of(editor.get(f"/automations/{automation_id}").get_data(as_text=True))
    assert "1 subscriber of the segment started the automation" in page, page  # Taro is in it already
    with app.app_context():
        from sqlalchemy import func, select

        from automations.models import Run

        assert db.session.scalar(select(func.count()).select_from(Run).where(
            Run.automation_id == automation_id, Run.subscriber_id == taro)) == 1  # never two beside each other


def test_moving_the_runs_of_an_older_version(app: Flask, editor: FlaskClient) -> None:
    first, second = _subscriber(app, "ichiro@example.jp"), _subscriber(app, "hanako@example.jp")
    automation_id = _create(editor, "printer")
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status", move="activate")
    with app.app_context():
        from automations.engine import wake
        from automations.lifecycle import get_automation
        from automations.triggers import enrol

        enrol(get_automation(automation_id), [first])
        wake()  # ichiro waits at "wait" on version 1
        enrol(get_automation(automation_id), [second])  # hanako has not started yet
        draft = get_automation(automation_id).draft
    page = editor.get(f"/automations/{automation_id}").get_data(as_text=True)
    assert 'id="move-runs"' not in page  # nothing older to move
    steps = dict(draft["steps"])
    steps["pause"] = steps.pop("wait")
    token = csrf_token(editor, f"/automations/{automation_id}")
    assert editor.post(f"/automations/{automation_id}/draft", json={"draft": {**draft, "start": "pause",
                                                                              "steps": steps}},
                       headers={"X-CSRFToken": token}).status_code == 200
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status", move="activate")
    page = editor.get(f"/automations/{automation_id}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "前のバージョンの読者を移す" in page and "このバージョンに残ります" in page
    text = text_of(page)
    assert re.search(r"v1 wait 1 このバージョンに残ります", text), text
    assert re.search(r"v1 （開始前） 1 （開始前） \(v2\)", text), text
    moved = submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/move")
    page = text_of(editor.get(moved.headers["Location"]).get_data(as_text=True))
    assert "1 subscriber moved to version 2." in page
    with app.app_context():
        from sqlalchemy import select

        from automations.models import Run

        versions = dict(db.session.execute(select(Run.subscriber_id, Run.version_id).where(
            Run.automation_id == automation_id)).all())
        automation = db.session.get(Automation, automation_id)
        assert automation is not None
        assert versions[second] == automation.version_id and versions[first] != automation.version_id


def test_an_active_automation_offers_activation_only_for_a_changed_draft(app: Flask, editor: FlaskClient) -> None:
    automation_id = _create(editor, "printer")
    page = editor.get(f"/automations/{automation_id}").get_data(as_text=True)
    assert re.search(r'data-action="activate">\s*<input[^>]*>\s*<input[^>]*>\s*<button[^>]*>Activate<', page), page
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status", move="activate")
    # running as drafted: activating again would change nothing, so the button waits hidden for an edit
    page = editor.get(f"/automations/{automation_id}").get_data(as_text=True)
    assert 'data-action="activate" hidden>' in page and 'data-action="pause">' in page
    with app.app_context():
        draft = db.session.get(Automation, automation_id).draft  # type: ignore[union-attr]
    draft["steps"]["wait"]["days"] = 14
    assert editor.post(f"/automations/{automation_id}/draft", json={"draft": draft},
                       headers={"X-CSRFToken": csrf_token(editor, f"/automations/{automation_id}")}).status_code == 200
    page = editor.get(f"/automations/{automation_id}").get_data(as_text=True)
    assert 'data-action="activate">' in page and "Activate the changes as a new version" in page
    # paused: the button resumes it
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status", move="pause")
    assert 'data-action="activate">' in editor.get(f"/automations/{automation_id}").get_data(as_text=True)


def test_a_viewer_cannot_delete_enrol_or_move(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "viewer")
    token = csrf_token(client, "/automations/")
    for action in ("delete", "enrol", "move"):
        assert client.post(f"/automations/1/{action}", data={"csrf_token": token}).status_code == 403


def test_a_running_automation_email_opens_in_the_campaign_editor_without_audience_and_saves(
        app: Flask, editor: FlaskClient) -> None:
    automation_id = _create(editor, "printer")
    submit(editor, f"/automations/{automation_id}", f"/automations/{automation_id}/status", move="activate")
    with app.app_context():
        campaign_id = db.session.get(Automation, automation_id).draft["steps"]["remind"]["campaign_id"]  # type: ignore[union-attr]
    page = editor.get(f"/campaigns/{campaign_id}", headers={"Accept-Language": "ja"})
    assert page.status_code == 200  # running, and still editable: it is an automation's email
    html = page.get_data(as_text=True)
    assert 'id="lists"' not in html and 'id="rate_per_minute"' not in html  # the automation decides who and when
    assert "オートメーションのメール" in text_of(html)
    saved = submit(editor, f"/campaigns/{campaign_id}", f"/campaigns/{campaign_id}", name="リマインド",
                   subject="インクの残りはいかがですか", content_type="html", template_id="1",
                   body="<p>{{ subscriber.name }}様</p><p><a href=\"{{ unsubscribe_url }}\">配信停止</a></p>",
                   language="ja", charset="utf-8")
    assert saved.status_code == 302, text_of(saved.get_data(as_text=True))
    with app.app_context():
        from mailer.models import Campaign

        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.subject == "インクの残りはいかがですか" and campaign.lists == []


def test_an_automation_email_previews_without_a_send_box_or_an_unknown_event_and_cannot_be_deleted_alone(
        app: Flask, editor: FlaskClient) -> None:
    automation_id = _create(editor, "printer")
    with app.app_context():
        campaign_id = db.session.get(Automation, automation_id).draft["steps"]["remind"]["campaign_id"]  # type: ignore[union-attr]
    page = text_of(editor.get(f"/campaigns/{campaign_id}/preview", headers={"Accept-Language": "ja"}
                              ).get_data(as_text=True))
    assert "今すぐ配信" not in page and "オートメーションのメール" in page
    unknown = re.findall(r"不明な変数「[^」]*」", page)
    assert unknown == [], unknown  # the trigger event is known to an automation's email
    assert "[product_name]" in page  # a preview has no event: each property shows its name
    with app.app_context():
        from mailer.campaigns import delete_campaign, get_campaign
        from mailer.errors import CampaignStatusError

        with pytest.raises(CampaignStatusError):
            delete_campaign(get_campaign(campaign_id))


def test_deleting_a_list_a_live_automation_uses_is_refused_on_the_lists_page(app: Flask, editor: FlaskClient) -> None:
    with app.app_context():
        from automations.lifecycle import activate, create_automation
        from lists.services import create_list

        news = create_list({"name": "ニュース"})
        automation = create_automation("ようこそ", {
            "trigger": {"kind": "subscribed", "list_id": news.id}, "start": "a",
            "steps": {"a": {"type": "wait", "mode": "duration", "days": 1, "next": None}}})
        activate(automation)
        list_id = news.id
    response = submit(editor, "/lists/", f"/lists/{list_id}/delete")
    assert response.status_code == 302
    page = text_of(editor.get("/lists/").get_data(as_text=True))
    assert "The automation “ようこそ” uses this list" in page and "ニュース" in page  # said there, the list kept


def test_the_builder_says_what_its_emails_earned_in_english_and_japanese(app: Flask, editor: FlaskClient) -> None:
    automation_id = _create(editor, "printer")
    page = f"/automations/{automation_id}"
    assert "Its emails brought" not in text_of(editor.get(page).get_data(as_text=True))  # nothing yet
    with app.app_context():
        automation = db.session.get_one(Automation, automation_id)
        message = next(s["campaign_id"] for s in automation.draft["steps"].values() if s["type"] == "send")
        taro = Subscriber(email="taro@example.jp", email_key="taro@example.jp", name="taro", attribs={})
        db.session.add(taro)
        db.session.flush()
        delivery = Delivery(campaign_id=message, subscriber_id=taro.id, status=DeliveryStatus.SENT, sent_at=utcnow())
        db.session.add(delivery)
        db.session.flush()  # as automations/conversions.py attributes a purchase after taro's click
        db.session.add(Conversion(event_id=1, subscriber_id=taro.id, campaign_id=message, delivery_id=delivery.id,
                                  via="click", at=utcnow(), amount=4980, currency="JPY"))
        db.session.commit()
    assert "Its emails brought 1 conversion: ¥4,980" in text_of(
        editor.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True))
    assert "このオートメーションのメールからのコンバージョン 1 件: ￥4,980" in text_of(
        editor.get(page, headers={"Accept-Language": "ja"}).get_data(as_text=True))


def test_the_reminders_mail_names_the_product_or_says_printer_when_the_event_has_none() -> None:
    """The recipe's mail reads properties.product_name; a shop that does not send it still gets a whole sentence."""
    from automations.recipes import INK
    from mailer.sandbox import HTML_ENV

    body = HTML_ENV.from_string(INK[2])  # the sandbox every message renders in
    assert "PX-105 をお使いいただき" in body.render(event={"properties": {"product_name": "PX-105"}})
    assert "プリンター をお使いいただき" in body.render(event={"properties": {}})
