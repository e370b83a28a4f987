"""The automations' pages with the test client: the list, creating from recipes, the builder, saving the draft,
activation's refusal naming the step, pause, the dry run, the subscriber's runs, and what a viewer may not do."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from automations.models import Automation, AutomationStatus
from automations.recipes import RECIPES
from core.db import db
from tests.helpers import csrf_token, login, submit, text_of


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
    assert '"entered": 0' in builder  # the cards' figures of the running version
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
    page = text_of(editor.get(f"/automations/{automation_id}/try?email=hanako@example.jp").get_data(as_text=True))
    assert "welcome" in page and "second" in page and "sends the email" in page
    missing = text_of(editor.get(f"/automations/{automation_id}/try?email=nobody@example.jp").get_data(as_text=True))
    assert "No subscriber has this address." in missing
    with app.app_context():
        from automations.lifecycle import activate, get_automation
        from automations.triggers import enrol

        automation = get_automation(automation_id)
        activate(automation)
        assert enrol(automation, [subscriber_id]) == 1
    person = text_of(editor.get(f"/subscribers/{subscriber_id}").get_data(as_text=True))
    assert "Welcome series" in person and "Waiting" in person


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
