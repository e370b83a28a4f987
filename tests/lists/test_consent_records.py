"""The consent records' export (page, download, API) and their retention, on a real database: what each row says,
by list and day, in UTF-8 and CP932, formula-safe; each bad choice answered clearly; old records of addresses no
longer mailed forgotten, never those of a live subscription."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app import create_app
from core.db import db, utcnow
from core.settings import SettingsError, load_settings
from lists import consent_retention
from lists.models import ConsentRecord, Subscriber
from tests.helpers import api_user, audit_entries, login

FORMULA_AGENT = '=HYPERLINK("https://evil.example/","click")'


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'boss')}"
    return client


@pytest.fixture
def lists(api: FlaskClient) -> dict[str, Any]:
    """Two lists: 週刊 (public, single opt-in) with a subscriber from the form and one from the API, and 店舗 with one
    from the API; the form's record made on 2026-04-01 at 00:30 in Tokyo, the API's on 2026-03-31 at 23:30."""
    weekly = api.post("/api/lists", json={"name": "週刊", "type": "public"}).get_json()["data"]
    shop = api.post("/api/lists", json={"name": "店舗"}).get_json()["data"]
    app = api.application
    form = app.test_client().post("/subscription/form", data={"email": "hanako@example.jp", "l": weekly["uuid"]},
                                  headers={"User-Agent": FORMULA_AGENT, "Accept-Language": "ja"})
    assert form.status_code == 200
    for email, list_ids in (("taro@example.jp", [weekly["id"]]), ("jiro@example.jp", [shop["id"]])):
        assert api.post("/api/subscribers", json={"email": email, "lists": list_ids,
                                                  "preconfirm_subscriptions": True}).status_code == 200
    times = {"hanako@example.jp": datetime(2026, 3, 31, 15, 30, tzinfo=UTC),
             "taro@example.jp": datetime(2026, 3, 31, 14, 30, tzinfo=UTC),
             "jiro@example.jp": datetime(2026, 4, 2, 3, 0, tzinfo=UTC)}
    with app.app_context():
        for email, at in times.items():
            subscriber_id = db.session.scalar(select(Subscriber.id).where(Subscriber.email == email))
            db.session.execute(update(ConsentRecord).where(ConsentRecord.subscriber_id == subscriber_id)
                               .values(created_at=at))
        db.session.commit()
    return {"weekly": weekly["id"], "shop": shop["id"]}


def rows(body: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(encoding))))


def test_the_api_exports_each_record_with_its_proof(api: FlaskClient, lists: dict[str, Any]) -> None:
    answer = api.get("/api/consent-records")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.data.startswith(codecs.BOM_UTF8)
    header, *records = rows(answer.data)
    assert header == ["recorded_at", "email", "list", "status", "method", "evidence", "ip", "user_agent",
                      "operator", "uuid"]
    by_email = {row[1]: row for row in records}
    hanako = by_email["hanako@example.jp"]
    assert hanako[0] == "2026-04-01 00:30:00" and hanako[2] == "週刊" and hanako[4] == "subscription form"
    assert hanako[5] == "回覧商事からのニュースレターをメールで受け取ることに同意します。"  # the words she agreed to
    assert hanako[6] == "127.0.0.1" and hanako[8] == ""
    assert hanako[7] == "'" + FORMULA_AGENT  # formula-safe: a spreadsheet shows it, never runs it
    taro = by_email["taro@example.jp"]
    assert taro[0] == "2026-03-31 23:30:00" and taro[4] == "API" and taro[8] == "boss" and taro[3] == "confirmed"


def test_by_list_and_day_in_cp932_with_japanese_headers(api: FlaskClient, lists: dict[str, Any]) -> None:
    april = api.get("/api/consent-records?from=2026-04-01&to=2026-04-01&headers=ja&encoding=cp932")
    assert april.headers["Content-Type"] == "text/csv; charset=Windows-31J"
    header, *records = rows(april.data, "cp932")
    assert header[:3] == ["記録日時", "メールアドレス", "リスト"]
    assert [row[1] for row in records] == ["hanako@example.jp"]  # 00:30 in Tokyo is April; 23:30 the day before not
    assert records[0][4] == "登録フォーム"
    assert records[0][3] == "確認済み"  # the status in Japanese words too, not the code under a Japanese header
    shop = rows(api.get(f"/api/consent-records?list_id={lists['shop']}").data)
    assert [row[1] for row in shop[1:]] == ["jiro@example.jp"]
    weekly_march = rows(api.get(f"/api/consent-records?list_id={lists['weekly']}&to=2026-03-31").data)
    assert [row[1] for row in weekly_march[1:]] == ["taro@example.jp"]
    exported = audit_entries(api.application, "export.downloaded")  # every export, and who took it
    assert [(entry.actor, entry.target) for entry in exported] == [("boss", "consent-records-cp932.csv")] + [
        ("boss", "consent-records-utf-8.csv")] * 2
    assert exported[0].after == {"path": "/api/consent-records", "from": "2026-04-01", "to": "2026-04-01",
                                 "headers": "ja", "encoding": "cp932"}


@pytest.mark.parametrize(("query", "field", "english", "japanese"), [
    # The API names its parameters; the page names the fields as it labels them.
    ("from=2026-02-30", "from", "from must be a date like 2026-04-01.",
     "開始日は2026-04-01のような日付で指定してください。"),
    ("to=yesterday", "to", "to must be a date like 2026-04-01.", "終了日は2026-04-01のような日付で指定してください。"),
    ("from=2026-04-02&to=2026-04-01", "from", "The first day (from) must not be after the last day (to).",
     "開始日は終了日より後にできません。"),
    ("list_id=99999", None, "List not found.", "リストが見つかりません。"),
    ("list_id=abc", "list_id", None, None),
    ("encoding=latin-1", "encoding", "encoding must be one of: utf-8, cp932 (cp932 is Shift_JIS, for older Excel).",
     "encoding は次のいずれかにしてください：utf-8, cp932（cp932 は古いExcel向けのShift_JISです）。"),
])
def test_bad_choices_are_answered_clearly(app: Flask, api: FlaskClient, lists: dict[str, Any], users: dict[str, str],
                                          query: str, field: str | None, english: str | None,
                                          japanese: str | None) -> None:
    answer = api.get(f"/api/consent-records?{query}", headers={"Accept-Language": "en"})
    assert answer.status_code == 400 and answer.get_json()["message"]
    if english:
        assert answer.get_json()["message"] == english
    page = app.test_client()
    login(page, "admin", **{"Accept-Language": "ja"})
    shown = page.get(f"/subscribers/consent/export.csv?{query}", headers={"Accept-Language": "ja"})
    assert shown.status_code == 400 and "text/html" in shown.headers["Content-Type"]
    if japanese:
        assert japanese in shown.get_data(as_text=True)
    if field in ("from", "to"):  # the page shows the choice that was wrong, as typed
        assert f'id="{field}" name="{field}" type="date" value="' in shown.get_data(as_text=True)


def test_the_admin_page_downloads_and_others_may_not(app: Flask, lists: dict[str, Any],
                                                     users: dict[str, str]) -> None:
    admin = app.test_client()
    login(admin, "admin", **{"Accept-Language": "ja"})
    page = admin.get("/subscribers/consent", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "同意の記録" in page and "無期限に保管" in page
    assert "記録は無期限に保管されます（KAIRAN_CONSENT_RETENTION_DAYS は未設定です）。" in page
    assert "Shift_JIS（CP932、古いExcel向け）" in page
    assert "（フォームの文言、インポートしたファイル名またはリンク）" in page
    download = admin.get(f"/subscribers/consent/export.csv?list_id={lists['weekly']}&encoding=cp932",
                         headers={"Accept-Language": "ja"})
    assert download.status_code == 200
    assert {row[1] for row in rows(download.data, "cp932")[1:]} == {"hanako@example.jp", "taro@example.jp"}
    editor = app.test_client()
    login(editor, "editor")
    assert editor.get("/subscribers/consent/export.csv").status_code == 403


def test_the_lists_pages_lead_to_the_export_with_the_list_chosen(app: Flask, lists: dict[str, Any],
                                                                  users: dict[str, str]) -> None:
    admin = app.test_client()
    login(admin, "admin", **{"Accept-Language": "ja"})
    index = admin.get("/lists/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert '<a class="button" href="/subscribers/consent">同意の記録</a>' in index
    detail = admin.get(f"/lists/{lists['shop']}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    link = f'<a href="/subscribers/consent?list_id={lists["shop"]}">このリストの同意の記録 →</a>'
    assert link in detail
    export = admin.get(f"/subscribers/consent?list_id={lists['shop']}").get_data(as_text=True)
    assert f'<option value="{lists["shop"]}" selected>店舗</option>' in export
    editor = app.test_client()  # no export for them: no link either
    login(editor, "editor")
    assert "/subscribers/consent" not in editor.get("/lists/").get_data(as_text=True)
    assert "/subscribers/consent" not in editor.get(f"/lists/{lists['shop']}").get_data(as_text=True)


def test_a_retention_shorter_than_a_month_is_refused(settings_env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="KAIRAN_CONSENT_RETENTION_DAYS must be a whole number of days of 31"):
        load_settings({**settings_env, "KAIRAN_CONSENT_RETENTION_DAYS": "7"})
    with pytest.raises(SettingsError, match="not 'a year'"):
        load_settings({**settings_env, "KAIRAN_CONSENT_RETENTION_DAYS": "a year"})


def test_retention_forgets_only_records_of_addresses_no_longer_mailed(app: Flask, api: FlaskClient,
                                                                      settings_env: dict[str, str],
                                                                      lists: dict[str, Any]) -> None:
    # taro (週刊) and jiro (店舗) are subscribed; hanako unsubscribes from 週刊, and so does a fourth reader, whose
    # unsubscribe is recent. Every record is two years old, but the fourth reader's unsubscribe.
    assert api.post("/api/subscribers", json={"email": "saburo@example.jp", "lists": [lists["weekly"]],
                                              "preconfirm_subscriptions": True}).status_code == 200
    with app.app_context():
        ids = {email: id_ for email, id_ in db.session.execute(select(Subscriber.email, Subscriber.id))}
    for email in ("hanako@example.jp", "saburo@example.jp"):
        answer = api.put("/api/subscribers/lists", json={"ids": [ids[email]], "action": "unsubscribe",
                                                          "target_list_ids": [lists["weekly"]]})
        assert answer.status_code == 200, answer.get_json()
    with app.app_context():
        db.session.execute(update(ConsentRecord).values(created_at=utcnow() - timedelta(days=730)))
        latest = db.session.scalar(select(ConsentRecord.id).order_by(ConsentRecord.id.desc()).limit(1)
                                   .where(ConsentRecord.subscriber_id == ids["saburo@example.jp"]))
        db.session.execute(update(ConsentRecord).where(ConsentRecord.id == latest)
                           .values(created_at=utcnow() - timedelta(days=10)))
        db.session.commit()
        assert consent_retention.sweep() == 0  # no retention set: kept for ever
    keeping = create_app({**settings_env, "KAIRAN_CONSENT_RETENTION_DAYS": "365", "TESTING": True})
    with keeping.app_context():
        assert consent_retention.sweep() == 2  # hanako's subscribe and unsubscribe
        left = db.session.execute(select(Subscriber.email, ConsentRecord.status).join(
            Subscriber, Subscriber.id == ConsentRecord.subscriber_id).order_by(ConsentRecord.id)).all()
        db.engine.dispose()
    assert sorted(email for email, _status in left) == ["jiro@example.jp", "saburo@example.jp", "saburo@example.jp",
                                                        "taro@example.jp"]
