"""Texts that reach mail headers come in on one line, by every entry point: line breaks fold, NUL is refused.

A name with CR/LF was stored as sent and later written into To: as header lines of its own
(issue 14). Each test here sends what an attacker would and states what is stored or answered.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from core.db import db
from core.errors import ValidationError
from core.oneline import folded, one_line
from core.tokens import Purpose, make_token
from lists.models import ListOptin, ListType, MailingList, Subscriber
from mailer.models import Campaign, Template, TemplateType
from tests.helpers import api_user, login, run_jobs, submit

INJECTED = "山田\r\nBcc: victim@example.com\r\n\tReply-To: evil@example.com"
FOLDED = "山田 Bcc: victim@example.com Reply-To: evil@example.com"
NUL = "山田\x00太郎"
# Through the API (and in a CSV file) a NUL never reaches the field's check: the input layer refuses it first
# (tests/core/test_bad_input.py), and a file with NUL is not a CSV. Another control character does reach it.
BELL = "山田\x07太郎"
REFUSED = "Name may not contain line breaks or control characters."


def test_line_breaks_fold_and_other_controls_are_refused_naming_the_field() -> None:
    assert one_line(INJECTED, "Name") == FOLDED
    assert one_line("  花子\u2028\x85様 ", "Name") == "花子 様"  # Unicode's line breaks too, and stripped
    for bad in (NUL, "a\x1bb", "a\x7fb", "a\x9bb"):
        with pytest.raises(ValidationError, match=REFUSED):
            one_line(bad, "Name")
    with pytest.raises(ValidationError, match="from_email may not contain"):
        one_line("Shop\r\n <a@example.jp>", "from_email", fold=False)  # an address: refused, not folded
    assert folded("a\r\nBcc:\x00 b\x1b") == "a Bcc: b"  # the mail builder's form never refuses


@pytest.fixture
def public_list(app: Flask) -> str:
    with app.app_context():
        weekly = MailingList(name="週刊", type=ListType.PUBLIC, optin=ListOptin.SINGLE, description="", tags=[])
        db.session.add(weekly)
        db.session.commit()
        return weekly.uuid


def names(app: Flask) -> dict[str, str]:
    with app.app_context():
        return {email: name for email, name in db.session.execute(select(Subscriber.email, Subscriber.name))}


def test_public_form_and_api_fold_a_name_and_refuse_nul(app: Flask, client: FlaskClient, public_list: str) -> None:
    form = client.post("/subscription/form", data={"email": "a@example.jp", "name": INJECTED, "l": public_list})
    api = client.post("/api/public/subscription", json={"email": "b@example.jp", "name": INJECTED,
                                                        "list_uuids": [public_list]})
    assert form.status_code == 200 and api.status_code == 200
    assert names(app) == {"a@example.jp": FOLDED, "b@example.jp": FOLDED}
    form = client.post("/subscription/form", data={"email": "c@example.jp", "name": NUL, "l": public_list})
    assert form.status_code == 400 and REFUSED in form.get_data(as_text=True)
    assert 'value="c@example.jp"' in form.get_data(as_text=True)  # the form keeps what was typed
    api = client.post("/api/public/subscription", json={"email": "c@example.jp", "name": BELL,
                                                        "list_uuids": [public_list]})
    assert api.status_code == 400 and api.get_json() == {"message": REFUSED}
    japanese = client.post("/subscription/form", data={"email": "c@example.jp", "name": NUL, "l": public_list},
                           headers={"Accept-Language": "ja"})
    assert "名前に改行や制御文字を含めることはできません。" in japanese.get_data(as_text=True)
    assert "c@example.jp" not in names(app)


def test_preferences_page_folds_a_name_and_refuses_nul_changing_nothing(
        app: Flask, client: FlaskClient, public_list: str) -> None:
    client.post("/subscription/form", data={"email": "a@example.jp", "name": "A", "l": public_list})
    with app.test_request_context(), app.app_context():
        page = f"/p/{make_token(Purpose.PREFERENCES, db.session.scalars(select(Subscriber.uuid)).one())}"
        list_id = db.session.scalars(select(MailingList.id)).one()
    refused = submit(client, page, name=NUL, l=[])
    assert refused.status_code == 400 and REFUSED in refused.get_data(as_text=True)
    assert names(app) == {"a@example.jp": "A"}
    saved = submit(client, page, name=INJECTED, l=[str(list_id)])
    assert saved.status_code == 200 and names(app) == {"a@example.jp": FOLDED}


def test_api_folds_subscriber_and_list_names_and_refuses_nul(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin')}"}
    created = client.post("/api/subscribers", headers=headers, json={"email": "a@example.jp", "name": INJECTED})
    assert created.get_json()["data"]["name"] == FOLDED
    changed = client.put(f"/api/subscribers/{created.get_json()['data']['id']}", headers=headers,
                         json={"email": "a@example.jp", "name": BELL})
    assert changed.status_code == 400 and changed.get_json() == {"message": REFUSED}
    assert names(app) == {"a@example.jp": FOLDED}
    made = client.post("/api/lists", headers=headers, json={"name": "週刊\r\nBcc: x@example.com"})
    assert made.get_json()["data"]["name"] == "週刊 Bcc: x@example.com"


@pytest.mark.usefixtures("users")
def test_ui_forms_fold_subscriber_and_list_names(app: Flask, client: FlaskClient) -> None:
    login(client, "admin")
    submit(client, "/subscribers/", "/subscribers/", **{"new-email": "a@example.jp", "new-name": INJECTED,
                                                          "new-status": "enabled", "new-attribs": "{}"})
    assert names(app) == {"a@example.jp": FOLDED}
    refused = submit(client, "/lists/", "/lists/", name="週刊\x00", type="private", optin="single")
    assert refused.status_code == 400 and REFUSED in refused.get_data(as_text=True)
    submit(client, "/lists/", "/lists/", name="週刊\r\n号外", type="private", optin="single")
    with app.app_context():
        assert db.session.scalars(select(MailingList.name)).all() == ["週刊 号外"]


def test_campaign_and_template_subjects_fold_and_a_broken_sender_is_refused(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin')}"}
    base = {"name": "11月号", "subject": "お知らせ\r\nBcc: x@example.com", "content_type": "html",
            "body": "<p>本文</p>"}
    made = client.post("/api/campaigns", headers=headers, json={**base, "from_email": "回覧 <news@kairan.example>"})
    assert made.get_json()["data"]["subject"] == "お知らせ Bcc: x@example.com"
    for sender, message in [("回覧\r\nBcc: x@example.com <news@kairan.example>", "From may not contain"),
                            ("回覧商事", "From is not an address")]:
        refused = client.post("/api/campaigns", headers=headers, json={**base, "from_email": sender})
        assert refused.status_code == 400 and refused.get_json()["message"].startswith(message)
    template = client.post("/api/templates", headers=headers, json={
        "name": "注文", "type": "tx", "subject": "ご注文\n{{ tx.data.order }}", "body": "<p>{{ tx.data.order }}</p>"})
    assert template.get_json()["data"]["subject"] == "ご注文 {{ tx.data.order }}"
    tx = client.post("/api/tx", headers=headers, json={
        "template_id": template.get_json()["data"]["id"], "subscriber_mode": "external",
        "subscriber_emails": ["a@example.jp"], "from_email": "Shop\r\nBcc: x@example.com <shop@kairan.example>"})
    assert tx.status_code == 400 and tx.get_json()["message"].startswith("from_email may not contain")
    with app.app_context():
        assert db.session.scalars(select(Campaign.subject)).all() == ["お知らせ Bcc: x@example.com"]
        assert db.session.scalars(select(Template.subject).where(Template.type == "tx")).all() == [
            "ご注文 {{ tx.data.order }}"]


def test_csv_import_folds_a_name_cell_and_reports_nul_as_a_bad_row(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'editor')}"}
    list_id = client.post("/api/lists", headers=headers, json={"name": "news"}).get_json()["data"]["id"]
    body = f'email,name\r\na@example.jp,"{INJECTED}"\r\nb@example.jp,{BELL}\r\n'
    params: dict[str, Any] = {"mode": "subscribe", "lists": [list_id], "delim": ","}
    client.post("/api/import/subscribers", headers=headers, content_type="multipart/form-data",
                data={"params": json.dumps(params), "file": (io.BytesIO(body.encode()), "people.csv")})
    run_jobs(app)
    assert names(app) == {"a@example.jp": FOLDED}
    log = client.get("/api/import/subscribers/logs", headers=headers).get_json()["data"]
    assert f"\n5,{REFUSED}," in log  # the line it starts on (the name before it took three), and why


@pytest.mark.usefixtures("ctx")
def test_migration_0021_puts_stored_header_texts_on_one_line(app: Flask) -> None:
    bad = "Evil\r\nBcc: victim@example.com\t\x1b[31m"  # as the public form stored it before issue 14
    clean = "Evil Bcc: victim@example.com [31m"
    db.session.add_all([
        Subscriber(email="a@example.jp", email_key="a@example.jp", name=bad, attribs={}),
        Subscriber(email="b@example.jp", email_key="b@example.jp", name="山田 太郎", attribs={}),
        MailingList(name=bad, description="", tags=[]),
        Campaign(name=bad, subject=bad, from_email=f"{bad} <news@kairan.example>"),
        Template(name="tx", type=TemplateType.TX, subject=bad, body="<p></p>"),
    ])
    db.session.commit()
    db.session.remove()
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    downgrade(revision=script.get_revision("0021").down_revision)  # and up again: 0021 meets the rows
    upgrade()
    assert dict(db.session.execute(select(Subscriber.email, Subscriber.name)).all()) == {
        "a@example.jp": clean, "b@example.jp": "山田 太郎"}  # a good name is left as it was
    assert db.session.scalars(select(MailingList.name)).one() == clean
    campaign = db.session.scalars(select(Campaign)).one()
    assert (campaign.name, campaign.subject, campaign.from_email) == (bad, clean, f"{clean} <news@kairan.example>")
    assert db.session.scalars(select(Template.subject).where(Template.type == TemplateType.TX)).one() == clean
