"""Exports: streamed CSV in UTF-8 or CP932 with formulas neutralised; one subscriber's data as JSON."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import lists.export
from core.db import db
from lists.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from tests.helpers import FORMULAS, api_user, login


def seed(app: Flask) -> None:
    with app.app_context():
        news = MailingList(name="お知らせ", description="", tags=[])
        db.session.add(news)
        db.session.flush()
        for email, name, attribs in (("taro@example.jp", "山田太郎", {"city": "大阪"}),
                                     ("evil@example.jp", "=HYPERLINK(\"http://x\")", {}),
                                     ("emoji@example.jp", "花子🌸", {})):
            subscriber = Subscriber(email=email, email_key=email, name=name, attribs=attribs)
            subscriber.subscriptions.append(Subscription(list_id=news.id, status=SubscriptionStatus.CONFIRMED, meta={}))
            db.session.add(subscriber)
        db.session.commit()


def test_no_exported_cell_is_a_formula(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    with app.app_context():  # names stored before the entry points folded them, written straight in
        for n, name in enumerate(FORMULAS):
            db.session.add(Subscriber(email=f"f{n}@example.jp", email_key=f"f{n}@example.jp", name=name, attribs={}))
        db.session.commit()
    login(client, "editor")
    rows = list(csv.reader(io.StringIO(client.get("/subscribers/export.csv").data.decode("utf-8-sig"))))
    assert sorted(row[1] for row in rows[1:]) == sorted("'" + name for name in FORMULAS)


def test_csv_export_in_utf8_and_cp932(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    seed(app)
    login(client, "editor")
    utf8 = client.get("/subscribers/export.csv?encoding=utf-8")
    assert utf8.status_code == 200 and utf8.data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8 right
    rows = list(csv.reader(io.StringIO(utf8.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["email", "name", "status"] and len(rows) == 4
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email["evil@example.jp"][1] == "'=HYPERLINK(\"http://x\")"  # never a live formula
    assert by_email["taro@example.jp"][3] == "お知らせ:confirmed" and by_email["taro@example.jp"][7] == "大阪"
    cp932 = client.get("/subscribers/export.csv?encoding=cp932").data.decode("cp932")
    assert "山田太郎" in cp932 and "花子?" in cp932  # what CP932 cannot carry becomes ?
    filtered = client.get("/subscribers/export.csv?search=taro").data.decode("utf-8-sig")
    assert filtered.count("\r\n") == 2  # header and the one match
    # Another encoding is refused, naming the choices, not quietly exported as UTF-8.
    bad = client.get("/subscribers/export.csv?encoding=latin-1", headers={"Accept-Language": "ja"})
    assert bad.status_code == 400
    said = "encoding は次のいずれかにしてください：utf-8, cp932（cp932 は古いExcel向けのShift_JISです）。"
    assert said in bad.get_data(as_text=True)


def test_export_batches_cover_every_row(app: Flask, client: FlaskClient, users: dict[str, str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seed(app)
    monkeypatch.setattr(lists.export, "EXPORT_BATCH", 2)  # three rows over two batches
    login(client, "admin")
    rows = client.get("/subscribers/export.csv").data.decode("utf-8-sig").strip().split("\r\n")
    assert len(rows) == 4


def test_subscriber_data_export_and_viewers_cannot(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    seed(app)
    editor = {"Authorization": f"token {api_user(app, 'editor')}"}
    data = client.get("/api/subscribers/1/export", headers=editor).get_json()
    assert data["profile"][0]["email"] == "taro@example.jp"
    assert data["subscriptions"] == [{"subscription_status": "confirmed", "name": "お知らせ", "type": "private",
                                      "created_at": data["subscriptions"][0]["created_at"]}]
    assert set(data) >= {"profile", "subscriptions", "consent", "timeline", "campaign_views", "link_clicks"}
    login(client, "viewer")
    assert client.get("/subscribers/export.csv").status_code == 403
    assert client.get("/subscribers/1/data.json").status_code == 403


def test_exports_open_right_in_excel(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    """The charset sent is the one the bytes are in; headers in Japanese; local times; one column per attribute."""
    seed(app)
    with app.app_context():
        taro = db.session.scalar(select(Subscriber).where(Subscriber.email == "taro@example.jp"))
        assert taro is not None
        taro.attribs = {"city": "大阪", "会員番号": 125, "vip": True, "tags": ["a", "b"], "email": "x"}
        taro.created_at = datetime(2026, 11, 5, 0, 30, 15, 123456, tzinfo=UTC)
        db.session.commit()
    login(client, "editor")
    cp932 = client.get("/subscribers/export.csv?encoding=cp932")
    assert cp932.headers["Content-Type"] == "text/csv; charset=Windows-31J"  # not utf-8: Shift_JIS as Windows has it
    cp932.close()  # a streamed response keeps its request's context (and locale) until closed
    utf8 = client.get("/subscribers/export.csv?encoding=utf-8")
    assert utf8.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(utf8.data.decode("utf-8-sig"))))
    utf8.close()
    assert rows[0] == ["email", "name", "status", "lists", "created_at", "updated_at", "uuid",
                       "city", "attribs.email", "tags", "vip", "会員番号"]  # an attribute named like a column says so
    taro_row = dict(zip(rows[0], next(row for row in rows if row[0] == "taro@example.jp"), strict=True))
    assert taro_row["created_at"] == "2026-11-05 09:30:15"  # KAIRAN_TIMEZONE (Asia/Tokyo), no microseconds
    assert (taro_row["city"], taro_row["会員番号"], taro_row["vip"], taro_row["tags"]) == ("大阪", "125", "true",
                                                                                          '["a","b"]')
    hanako_row = next(row for row in rows if row[0] == "emoji@example.jp")
    assert hanako_row[7:] == ["", "", "", "", ""]
    # Headers in the reader's language: a Japanese UI gets Japanese ones, and ?headers= chooses.
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    japanese = client.get("/subscribers/export.csv?encoding=cp932").data.decode("cp932")
    assert japanese.startswith("メールアドレス,名前,ステータス,リスト,作成日,更新日時,UUID,city,attribs.email,")
    english = client.get("/subscribers/export.csv?encoding=utf-8&headers=en").data.decode("utf-8-sig")
    assert english.startswith("email,name,status,")
