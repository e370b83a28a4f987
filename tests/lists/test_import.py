"""CSV import through the UI and listmonk's API, run by a real RQ worker."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.db import db
from core.queues import queue
from core.safecsv import FORMULA_STARTS
from lists import import_files
from lists.consent_evidence import describe
from lists.models import (
    ConsentMethod,
    ConsentRecord,
    Import,
    ImportChunk,
    ImportFile,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from lists.queues import IMPORT_QUEUE
from tests.helpers import FORMULAS, api_user, csrf_token, login, run_jobs
from tests.lists.helpers import EXCEL_CSV, make_list, start_via_ui, upload_via_ui


def test_excel_cp932_file_imports_good_rows_and_reports_bad_ones(app: Flask, client: FlaskClient,
                                                                 users: dict[str, str]) -> None:
    news = make_list(app)
    login(client, "editor")
    preview_url = upload_via_ui(client, EXCEL_CSV.encode("cp932"))
    preview = client.get(preview_url).get_data(as_text=True)
    assert "cp932 (detected)" in preview and "山田太郎" in preview  # decoded right, shown before importing
    response = start_via_ui(client, preview_url, lists=str(news), mode="subscribe",
                            subscription_status="confirmed", **{"col-3-type": "number"})
    assert response.status_code == 302
    run_jobs(app)

    page = client.get(preview_url).get_data(as_text=True)
    assert "Finished" in page
    # A finished import leads to the list it filled.
    assert f'href="/subscribers/?list_id={news}">See the subscribers of news' in page
    with app.app_context():
        people = {s.email: s for s in db.session.scalars(select(Subscriber))}
        # Merged with the later row, whose spelling wins too (the local part keeps its case).
        assert set(people) == {"Yamada@example.jp", "taro..x.@docomo.ne.jp", "hanako@ezweb.ne.jp"}
        assert people["Yamada@example.jp"].name == "山田 太郎"  # merged: the later row's name
        assert people["Yamada@example.jp"].attribs == {"都道府県": "大阪府", "会員番号": 125}
        assert db.session.scalar(select(func.count()).select_from(Subscription)) == 3
        record = db.session.scalars(select(ConsentRecord)).first()
        assert record is not None and record.method == ConsentMethod.IMPORT
        assert describe(record.evidence) == "Import of 会員.csv by editor"  # the file name is the consent evidence
    # Bad rows: listed with their line numbers and reasons, and downloadable.
    bad = dict(re.findall(r'<td class="num">(\d+)</td><td>([^<]+)</td>', page))
    assert bad == {
        "4": "An address may not contain line breaks or control characters.",
        "6": bad["6"],
        "7": "Expected 4 columns, found 2.",
    }
    assert bad["6"].startswith("not-an-address has no @")
    download = client.get(preview_url + "/errors.csv")
    assert download.status_code == 200 and download.data.startswith(b"\xef\xbb\xbfline,reason,row")


def test_utf8_with_bom_and_semicolons_are_detected(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    make_list(app)
    login(client, "editor")
    preview_url = upload_via_ui(client, "\ufeffemail;name\r\na@example.jp;Ａ\r\n".encode())
    preview = client.get(preview_url).get_data(as_text=True)
    assert "utf-8-sig (detected)" in preview and 'value=";" selected' in preview


def test_mapping_without_an_email_column_is_refused(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    news = make_list(app)
    login(client, "editor")
    preview_url = upload_via_ui(client, b"email,name\r\na@example.jp,A\r\n")
    response = start_via_ui(client, preview_url, lists=str(news), **{"col-0-target": "ignore"})
    assert response.status_code == 302
    assert "Exactly one column must hold the email address." in client.get(preview_url).get_data(as_text=True)
    with app.app_context():
        assert queue(IMPORT_QUEUE).count == 0  # nothing queued


@pytest.mark.parametrize("columns", ["two", "-1", "1001", "99999999999999999999"])
def test_a_mapping_form_with_a_column_count_not_the_previews_is_refused(app: Flask, client: FlaskClient,
                                                                      users: dict[str, str], columns: str) -> None:
    news = make_list(app)
    login(client, "editor")
    preview_url = upload_via_ui(client, b"email,name\r\na@example.jp,A\r\n")
    response = start_via_ui(client, preview_url, lists=str(news), columns=columns)
    assert response.status_code == 302  # back to the mapping, saying why
    assert "columns must be a whole number from 0 to 1000." in client.get(preview_url).get_data(as_text=True)
    with app.app_context():
        assert queue(IMPORT_QUEUE).count == 0


def test_blocklist_and_unsubscribe_modes(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    news = make_list(app)
    login(client, "editor")
    start_via_ui(client, upload_via_ui(client, b"email\r\na@example.jp\r\nb@example.jp\r\n"), lists=str(news))
    run_jobs(app)
    start_via_ui(client, upload_via_ui(client, b"email\r\nA@example.jp\r\n"), lists=str(news), mode="unsubscribe")
    run_jobs(app)
    start_via_ui(client, upload_via_ui(client, b"email\r\nb@example.jp\r\n"), mode="blocklist")
    run_jobs(app)
    with app.app_context():
        statuses = {email: status for email, status in db.session.execute(select(Subscriber.email, Subscriber.status))}
        assert statuses == {"a@example.jp": SubscriberStatus.ENABLED, "b@example.jp": SubscriberStatus.BLOCKLISTED}
        subscriptions = {s.subscriber.email: s.status.value for s in db.session.scalars(select(Subscription))}
        assert subscriptions == {"a@example.jp": "unsubscribed", "b@example.jp": "unsubscribed"}


def test_cancel_before_the_worker_starts(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    news = make_list(app)
    login(client, "editor")
    preview_url = upload_via_ui(client, b"email\r\na@example.jp\r\n")
    start_via_ui(client, preview_url, lists=str(news))
    client.post(preview_url + "/cancel", data={"csrf_token": csrf_token(client, preview_url)})
    run_jobs(app)
    assert "Cancelled" in client.get(preview_url).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_listmonk_import_api(app: Flask, client: FlaskClient) -> None:
    news = make_list(app)
    headers = {"Authorization": f"token {api_user(app, 'editor')}"}
    assert client.get("/api/import/subscribers", headers=headers).get_json() == {
        "data": {"name": "", "total": 0, "imported": 0, "status": "none"}}
    body = 'email,name,attributes\r\na@example.jp,A,"{""city"": ""大阪""}"\r\nbad,B,{}\r\n'
    response = client.post(
        "/api/import/subscribers", headers=headers, content_type="multipart/form-data",
        data={"params": json.dumps({"mode": "subscribe", "subscription_status": "confirmed", "delim": ",",
                                    "lists": [news], "overwrite": True}),
              "file": (io.BytesIO(body.encode()), "subscribers.csv")},
    )
    assert response.status_code == 200
    assert response.get_json()["data"]["status"] == "importing"
    run_jobs(app)
    assert client.get("/api/import/subscribers", headers=headers).get_json() == {
        "data": {"name": "subscribers.csv", "total": 2, "imported": 1, "status": "finished"}}
    log = client.get("/api/import/subscribers/logs", headers=headers).get_json()["data"]
    assert "1 imported, 1 bad" in log and "3," in log  # line 3 is the bad row
    with app.app_context():
        assert db.session.scalars(select(Subscriber.attribs)).one() == {"city": "大阪"}
    missing = client.post("/api/import/subscribers", headers=headers, content_type="multipart/form-data",
                          data={"params": "{}"})
    assert missing.status_code == 400 and missing.get_json() == {"message": "Send the CSV as the multipart field file."}
    no_list = client.post("/api/import/subscribers", headers=headers, content_type="multipart/form-data",
                          data={"params": "{}", "file": (io.BytesIO(b"email\r\na@b.jp\r\n"), "x.csv")})
    assert no_list.status_code == 400 and no_list.get_json() == {"message": "Choose at least one list."}
    with app.app_context():  # the refused upload is not kept
        assert db.session.scalar(select(func.count()).select_from(Import)) == 1


@pytest.mark.parametrize("role", ["viewer"])
def test_viewers_cannot_import(app: Flask, client: FlaskClient, users: dict[str, str], role: str) -> None:
    login(client, role)
    assert client.get("/subscribers/import/").status_code == 403


def test_uploads_are_removed_when_done_and_imports_can_be_deleted(app: Flask, client: FlaskClient,
                                                                  users: dict[str, str]) -> None:
    news = make_list(app)
    login(client, "editor")
    preview_url = upload_via_ui(client, b"email\r\na@example.jp\r\nbad\r\n")
    import_id = int(preview_url.rsplit("/", 1)[1])
    with app.app_context():
        assert import_files.exists(import_id, ImportFile.UPLOAD)
    start_via_ui(client, preview_url, lists=str(news))
    run_jobs(app)
    with app.app_context():
        assert not import_files.exists(import_id, ImportFile.UPLOAD)  # personal data is not kept once imported
        assert import_files.exists(import_id, ImportFile.BAD_ROWS)
    token = csrf_token(client, "/subscribers/import/")
    client.post(f"/subscribers/import/{import_id}/delete", data={"csrf_token": token})
    assert client.get(preview_url).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImportChunk)) == 0  # its files went with it
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 1  # imported rows stay


def test_bad_rows_csv_holds_no_live_formula_and_the_page_shows_rows_as_they_were(
        app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    news = make_list(app)
    headers = {"Authorization": f"token {api_user(app, 'editor')}"}
    rows = [[cell, "x"] for cell in FORMULAS]  # not addresses: each row is bad, its reason quotes it
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["email", "name"], *rows])
    client.post("/api/import/subscribers", headers=headers, content_type="multipart/form-data",
                data={"params": json.dumps({"mode": "subscribe", "lists": [news], "delim": ","}),
                      "file": (io.BytesIO(buffer.getvalue().encode()), "bad.csv")})
    run_jobs(app)
    with app.app_context():
        import_id = db.session.scalars(select(Import.id)).one()
    login(client, "editor")
    errors = list(csv.reader(io.StringIO(client.get(f"/subscribers/import/{import_id}/errors.csv")
                                         .data.decode("utf-8-sig"))))
    assert errors[0] == ["line", "reason", "row"] and len(errors) == len(FORMULAS) + 1
    for _line, reason, row in errors[1:]:
        assert not reason.startswith(FORMULA_STARTS) and not row.startswith(FORMULA_STARTS)
    assert sorted(row for _line, _reason, row in errors[1:]) == sorted("'" + ",".join(r) for r in rows)
    page = client.get(f"/subscribers/import/{import_id}").get_data(as_text=True)
    assert f"<code>{html.escape(rows[0][0] + ',x')}</code>" in page  # the page shows the row as it was
    log = client.get("/api/import/subscribers/logs", headers=headers).get_json()["data"]
    assert "'=1+2 has no @" in log and "\n=1+2" not in log


def test_an_import_in_progress_says_its_time_left_in_words(app: Flask, client: FlaskClient,
                                                           users: dict[str, str]) -> None:
    """Before the worker has a rate, the time left is "not known yet", never "— 秒"."""
    news = make_list(app)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    login(client, "editor")
    preview_url = upload_via_ui(client, EXCEL_CSV.encode("cp932"))
    assert start_via_ui(client, preview_url, lists=str(news), mode="subscribe",
                        subscription_status="confirmed").status_code == 302
    page = client.get(preview_url).get_data(as_text=True)
    assert "残り時間: 計算中" in page and "— 秒" not in page
    progress = client.get(preview_url + "/progress").get_json()
    assert progress["data"]["time_left"] == "残り時間: 計算中" and progress["data"]["seconds_left"] is None
