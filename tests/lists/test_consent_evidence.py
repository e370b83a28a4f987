"""Consent records keep what happened as codes; the subscriber's page says it in the reader's language."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from core.db import db
from lists.consent_evidence import coded
from lists.models import ConsentMethod, ConsentRecord, MailingList, SubscriptionStatus
from tests.helpers import api_user, login


def test_consent_records_are_worded_for_their_reader(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    with app.app_context():
        news = MailingList(name="お知らせ", description="", tags=[])
        db.session.add(news)
        db.session.commit()
        news_id = news.id
    # An English API client subscribes someone; an import (written by a worker, in no language) adds a list.
    api = {"Authorization": f"token {api_user(app, 'admin', 'crm')}", "Accept-Language": "en"}
    created = client.post("/api/subscribers", headers=api, json={
        "email": "taro@example.jp", "name": "山田", "lists": [news_id], "preconfirm_subscriptions": True})
    subscriber_id = created.get_json()["data"]["id"]
    with app.app_context():
        imported = coded("import", file="会員.csv", user="editor")
        db.session.add_all([
            ConsentRecord(subscriber_id=subscriber_id, list_id=news_id, method=ConsentMethod.IMPORT,
                          status=SubscriptionStatus.CONFIRMED, evidence=imported),
            ConsentRecord(subscriber_id=subscriber_id, list_id=news_id, method=ConsentMethod.FORM,
                          status=SubscriptionStatus.CONFIRMED, evidence="Words from before the codes"),
        ])
        db.session.commit()
        stored = {r.method: r.evidence for r in db.session.scalars(db.select(ConsentRecord))}
    assert stored[ConsentMethod.API] == '{"code":"api","user":"crm"}'  # what happened, in no language

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    login(client, "viewer")
    page = client.get(f"/subscribers/{subscriber_id}").get_data(as_text=True)
    assert "API ユーザー crm" in page and "editor による 会員.csv のインポート" in page  # table and timeline
    assert "インポート" in page and "API user" not in page and "Import of" not in page and '"code"' not in page
    assert "Words from before the codes" in page  # free text (a form's wording, older records) as it was
    data = client.get(f"/api/subscribers/{subscriber_id}/export", headers={**api, "Accept-Language": "en"})
    evidences = [c["evidence"] for c in data.get_json()["consent"]]
    assert "API user crm" in evidences and "Import of 会員.csv by editor" in evidences
    editor = app.test_client()  # a privacy request's download, from the Japanese UI
    editor.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    login(editor, "editor")
    japanese = editor.get(f"/subscribers/{subscriber_id}/data.json").get_json()["consent"]
    assert {(c["method"], c["method_label"]) for c in japanese} >= {("import", "インポート"), ("api", "API")}
    assert "editor による 会員.csv のインポート" in [c["evidence"] for c in japanese]
