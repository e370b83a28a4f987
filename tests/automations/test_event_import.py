"""Customer events from a CSV (a shop's order export) through the pages and the API, run by a real RQ worker:
CP932 with Japanese product names, importing the same file twice, bad rows with their reasons, unknown addresses
with and without create_subscriber, and the pages in English and Japanese."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

import lists.imports
from automations.event_import import local_time
from automations.models import Event, EventSource
from core.db import db
from lists import import_files
from lists.import_reader import RowError
from lists.imports import UNSTARTED_UPLOAD_KEPT, get_import
from lists.models import Import, ImportFile, ImportKind, ImportStatus, Subscriber, Subscription
from tests.automations.helpers import add_subscriber
from tests.helpers import Clock, api_user, csrf_token, login, run_jobs

# An EC shop's order export as Excel saves it on a Japanese PC (CP932, CRLF).
ORDERS = (
    "注文番号,注文日時,メールアドレス,商品名,数量,金額\r\n"
    'A-1001,2026/11/03 14:05:00,taro@example.jp,プリンター PX-1,1,"39,800"\r\n'  # 2: good
    "A-1002,2026-11-03 15:10,ｈａｎａｋｏ＠example.jp,インク カートリッジ（黒）,2,3200\r\n"  # 3: good (full-width)
    "A-1003,2026-11-03T16:00:00+09:00,nobody@example.jp,用紙 A4,1,800\r\n"  # 4: nobody has this address
    "A-1004,2026/13/01 10:00,taro@example.jp,用紙 B5,1,700\r\n"  # 5: no 13th month
    "A-1005,2026-11-04 09:00,taro@example.jp,トナー,x,5000\r\n"  # 6: 数量 is not a number
    "A-1006,2099-01-01 00:00,taro@example.jp,未来の商品,1,1\r\n"  # 7: more than a day ahead
    "A-1007,2026-11-04 10:00,not-an-address,ペン,1,100\r\n"  # 8: not an address
    "A-1008,2026-11-04\r\n"  # 9: too few columns
    "\r\n"  # blank: not a row
    "A-1001,2026/11/03 14:05:00,taro@example.jp,プリンター PX-1,1,39800\r\n"  # 11: the same order again
)
BAD_LINES = ["4", "5", "6", "7", "8", "9"]


def upload_events(client: FlaskClient, content: bytes, name: str = "受注.csv") -> str:
    token = csrf_token(client, "/events/import/")
    response = client.post("/events/import/", data={"csrf_token": token, "file": (io.BytesIO(content), name)},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"])


def start_events(client: FlaskClient, preview_url: str, **options: str) -> Any:
    """Start an import as the preview offers it (its guessed mapping), with 数量 and 金額 marked numbers."""
    page = client.get(preview_url).get_data(as_text=True)
    columns = int(re.search(r'name="columns" value="(\d+)"', page).group(1))  # type: ignore[union-attr]
    form = {"csrf_token": csrf_token(client, preview_url), "columns": str(columns), "delimiter": ",",
            "encoding": re.search(r'name="encoding" value="([^"]+)"', page).group(1)}  # type: ignore[union-attr]
    for i in range(columns):
        form[f"col-{i}-target"] = re.search(rf'name="col-{i}-target".*?<option value="(\w+)" selected',
                                            page, re.S).group(1)  # type: ignore[union-attr]
        form[f"col-{i}-key"] = re.search(rf'name="col-{i}-key" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
        form[f"col-{i}-type"] = "number" if form[f"col-{i}-key"] in ("数量", "金額") else "text"
    form["event_name"] = "purchase"
    return client.post(preview_url + "/start", data={**form, **options})


def events(app: Flask) -> list[Event]:
    with app.app_context():
        found = list(db.session.scalars(select(Event).order_by(Event.occurred_at, Event.id)))
        db.session.expunge_all()
        return found


def bad_rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<td class="num">(\d+)</td><td>([^<]+)</td>', page))


def test_a_cp932_order_export_is_imported_once_with_its_bad_rows_named(app: Flask, client: FlaskClient,
                                                                      shop: FlaskClient,
                                                                      users: dict[str, str]) -> None:
    taro, hanako = add_subscriber(shop, "taro@example.jp"), add_subscriber(shop, "hanako@example.jp")
    login(client, "editor")
    preview_url = upload_events(client, ORDERS.encode("cp932"))
    preview = client.get(preview_url).get_data(as_text=True)
    assert "cp932 (detected)" in preview and "インク カートリッジ（黒）" in preview  # decoded, shown before importing
    assert start_events(client, preview_url).status_code == 302
    run_jobs(app)

    stored = events(app)
    assert [(e.subscriber_id, e.name, e.idempotency_key, e.source) for e in stored] == [
        (taro["id"], "purchase", "purchase:A-1001", EventSource.CSV),
        (hanako["id"], "purchase", "purchase:A-1002", EventSource.CSV)]
    assert stored[0].properties == {"商品名": "プリンター PX-1", "数量": 1, "金額": 39800}  # numbers kept as numbers
    assert stored[1].properties == {"商品名": "インク カートリッジ（黒）", "数量": 2, "金額": 3200}
    # Local times are in the installation's time zone (Asia/Tokyo unless KAIRAN_TIMEZONE says otherwise).
    assert stored[0].occurred_at == datetime(2026, 11, 3, 5, 5, tzinfo=UTC)
    assert stored[1].occurred_at == datetime(2026, 11, 3, 6, 10, tzinfo=UTC)

    page = client.get(preview_url).get_data(as_text=True)
    assert "Finished" in page
    assert re.search(r'Events stored: <strong data-field="imported">2</strong>', page)
    assert re.search(r'duplicates\): <strong data-field="duplicates">1</strong>', page)  # line 11: A-1001 again
    assert re.search(r'Bad rows: <strong data-field="failed">6</strong>', page)
    reasons = bad_rows(page)
    assert sorted(reasons, key=int) == BAD_LINES
    assert reasons["4"].startswith("No subscriber has this id, uuid or address")  # the API's own words
    assert reasons["5"] == "occurred_at is not a time such as 2026-11-03 14:05: 2026/13/01 10:00"
    assert reasons["6"] == "数量 is not a number: x"
    assert reasons["7"] == "occurred_at is more than a day ahead of this server&#39;s clock."
    assert reasons["8"].startswith("not-an-address has no @")
    assert reasons["9"] == "Expected 6 columns, found 2."
    download = client.get(preview_url + "/errors.csv")
    assert download.status_code == 200 and download.data.startswith(b"\xef\xbb\xbfline,reason,row")
    assert "ペン" in download.data.decode()

    # The same file again: every order is a duplicate, nothing is stored twice.
    again = upload_events(client, ORDERS.encode("cp932"))
    start_events(client, again)
    run_jobs(app)
    assert len(events(app)) == 2
    progress = client.get(again + "/progress").get_json()["data"]
    assert (progress["status"], progress["imported"], progress["duplicates"], progress["failed"]) == \
        ("finished", 0, 3, 6)
    with app.app_context():  # without create_subscriber, nobody was added
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 2


def test_unknown_addresses_become_subscribers_on_no_list_when_asked(app: Flask, client: FlaskClient,
                                                                    users: dict[str, str]) -> None:
    login(client, "editor")
    csv = "email,event,order_id\r\nnew@example.jp,signup,1\r\nnew@example.jp,Purchase,2\r\nother@example.jp,,3\r\n"
    preview_url = upload_events(client, csv.encode())
    start_events(client, preview_url, event_name="visit", create_subscriber="y")
    run_jobs(app)
    stored = events(app)
    assert [(e.name, e.idempotency_key) for e in stored] == [("signup", "signup:1"), ("visit", "visit:3")]
    with app.app_context():
        people = set(db.session.scalars(select(Subscriber.email)))
        assert people == {"new@example.jp", "other@example.jp"}
        assert db.session.scalar(select(func.count()).select_from(Subscription)) == 0  # on no list
    # An event name the API refuses is refused here in its words.
    assert bad_rows(client.get(preview_url).get_data(as_text=True)) == {
        "3": "name must be 1 to 64 characters of a-z, 0-9, _ . : and -, like purchase or cart_abandoned."}


def test_the_api_imports_a_file_and_reports_it(app: Flask, shop: FlaskClient) -> None:
    add_subscriber(shop, "taro@example.jp")
    params = {"event_name": "purchase", "mapping": [
        {"target": "key"}, {"target": "occurred_at"}, {"target": "email"}, {"target": "property", "key": "product"},
        {"target": "property", "key": "quantity", "type": "number"}, {"target": "ignore"}]}
    response = shop.post("/api/events/import", data={"params": json.dumps(params),
                                                     "file": (io.BytesIO(ORDERS.encode("cp932")), "orders.csv")},
                         content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    import_id = response.get_json()["data"]["id"]
    assert response.get_json()["data"]["status"] == "queued"
    run_jobs(app)
    status = shop.get(f"/api/events/import/{import_id}").get_json()["data"]
    assert (status["status"], status["imported"], status["duplicates"], status["failed"]) == ("finished", 1, 1, 7)
    assert [e["line"] for e in status["errors"]] == [3, 4, 5, 6, 7, 8, 9]  # hanako is nobody here
    assert events(app)[0].properties == {"product": "プリンター PX-1", "quantity": 1}
    # With create_subscriber the unknown addresses are added (and the orders stored before stay duplicates).
    response = shop.post("/api/events/import", data={
        "params": json.dumps({**params, "create_subscriber": True}),
        "file": (io.BytesIO(ORDERS.encode("cp932")), "orders.csv")}, content_type="multipart/form-data")
    run_jobs(app)
    status = shop.get(f"/api/events/import/{response.get_json()['data']['id']}").get_json()["data"]
    assert (status["imported"], status["duplicates"], status["failed"]) == (2, 2, 5)
    assert {e.idempotency_key for e in events(app)} == {"purchase:A-1001", "purchase:A-1002", "purchase:A-1003"}


def test_the_api_refuses_what_cannot_work_and_keeps_nothing(app: Flask, shop: FlaskClient) -> None:
    no_name = shop.post("/api/events/import", data={"file": (io.BytesIO(b"email,total\r\na@example.jp,1\r\n"),
                                                             "x.csv")}, content_type="multipart/form-data")
    assert no_name.status_code == 400 and no_name.get_json()["message"].startswith("Give the event's name")
    no_file = shop.post("/api/events/import", data={"params": "{}"}, content_type="multipart/form-data")
    assert no_file.status_code == 400
    not_json = shop.post("/api/events/import", data={"params": "{", "file": (io.BytesIO(b"email\r\n"), "x.csv")},
                         content_type="multipart/form-data")
    assert not_json.status_code == 400
    for params in ({"event_name": "purchase", "delim": 5}, {"event_name": "purchase", "mapping": "email"},
                   {"event_name": "purchase", "mapping": [{"target": "email"}, {"target": "property", "key": "a b"}]},
                   {"event_name": "purchase", "create_subscriber": "yes"}, {"event_name": "Purchase"}):
        refused = shop.post("/api/events/import", data={
            "params": json.dumps(params), "file": (io.BytesIO(b"email,total\r\na@example.jp,1\r\n"), "x.csv")},
            content_type="multipart/form-data")
        assert refused.status_code == 400, params
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Import)) == 0
    assert shop.get("/api/events/import/999").status_code == 400  # listmonk answers 400 for an unknown id
    viewer = {"Authorization": f"token {api_user(app, 'viewer', 'analyst')}"}
    assert shop.get("/api/events/import/1", headers=viewer).status_code == 403


def test_the_pages_in_english_and_japanese(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    english = client.get("/events/import/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<h1>Import customer events</h1>" in english
    assert "/events/import/" in client.get("/subscribers/import/").get_data(as_text=True)  # linked from there
    japanese = app.test_client()
    login(japanese, "editor", **{"Accept-Language": "ja"})
    japanese.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    assert "<h1>イベントの取り込み</h1>" in japanese.get("/events/import/").get_data(as_text=True)
    preview_url = upload_events(japanese, ORDERS.encode("cp932"))
    preview = japanese.get(preview_url).get_data(as_text=True)
    assert "注文番号（一度だけ取り込む）" in preview
    assert "不明なアドレスを、どのリストにも入れずに購読者として追加する" in preview
    start_events(japanese, preview_url)
    run_jobs(app)
    page = japanese.get(preview_url).get_data(as_text=True)
    assert "保存したイベント" in page
    reasons = bad_rows(page)
    assert reasons["6"] == "数量 が数値ではありません: x"
    # The subscribers' import pages do not show, or open, an event import.
    assert "受注.csv" not in japanese.get("/subscribers/import/").get_data(as_text=True)
    assert japanese.get(preview_url.replace("/events/import/", "/subscribers/import/")).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(Import.kind)).all() == [ImportKind.EVENTS]


@pytest.mark.parametrize(("written", "expected"), [
    ("2026-11-03 14:05", "2026-11-03T14:05:00+09:00"),
    ("2026/11/3 9:05:30", "2026-11-03T09:05:30+09:00"),
    ("2026-11-03", "2026-11-03T00:00:00+09:00"),
    ("2026-11-03T14:05:00Z", "2026-11-03T14:05:00+00:00"),
    ("2026-11-03T14:05:00.5+0530", "2026-11-03T14:05:00.500000+05:30"),
])
def test_times_as_shops_write_them(written: str, expected: str) -> None:
    assert local_time(written, ZoneInfo("Asia/Tokyo")) == expected


@pytest.mark.parametrize("written", ["2026-02-30 10:00", "03/11/2026", "2026-11-03 25:00", "yesterday"])
def test_what_is_no_time_is_a_bad_row(written: str) -> None:
    with pytest.raises(RowError):
        local_time(written, ZoneInfo("Asia/Tokyo"))


def test_cancelled_before_it_runs_stores_nothing_and_old_files_are_swept(
        app: Flask, client: FlaskClient, shop: FlaskClient, users: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    add_subscriber(shop, "taro@example.jp")
    login(client, "editor")
    queued = upload_events(client, ORDERS.encode("cp932"))
    start_events(client, queued)
    client.post(queued + "/cancel", data={"csrf_token": csrf_token(client, queued)})
    run_jobs(app)
    assert client.get(queued + "/progress").get_json()["data"]["status"] == "cancelled"
    assert events(app) == []
    # An upload nobody started is swept after a day, as the subscribers' uploads are (lists/imports.py).
    pending = int(upload_events(client, ORDERS.encode("cp932")).rsplit("/", 1)[1])
    clock = Clock()
    monkeypatch.setattr(lists.imports, "utcnow", clock.now)
    clock.advance(UNSTARTED_UPLOAD_KEPT.total_seconds() + 60)
    with app.app_context():
        lists.imports.sweep()
        assert get_import(pending).status == ImportStatus.CANCELLED
        assert not import_files.exists(pending, ImportFile.UPLOAD)
