"""Subscriber search through the trigram index of migration 0006: substrings of email, name and attribute
values in any case, Japanese included; searches of 1-2 characters scan; the index follows every change."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker

from core.db import db
from core.queues import queue, redis
from lists.queries import is_sqlite
from lists.queues import IMPORT_QUEUE
from lists.subscribers import subscribers_for_addresses, subscribers_query
from tests.helpers import api_user
from tests.lists.helpers import make_list, make_subscriber


def found(client: FlaskClient, headers: dict[str, str], search: str) -> list[str]:
    """Emails the API's search returns, newest first."""
    data = client.get(f"/api/subscribers?per_page=all&search={quote(search)}", headers=headers).get_json()["data"]
    return [s["email"] for s in data["results"]]


def test_search_finds_substrings_of_email_name_and_attribute_values(app: Flask, client: FlaskClient,
                                                                    editor: dict[str, str]) -> None:
    make_subscriber(client, editor, email="taro@example.jp", name="山田太郎",
                    attribs={"city": "大阪市", "plan": "gold", "office": {"town": "梅田", "open": True}, "fax": None})
    make_subscriber(client, editor, email="hanako@docomo.ne.jp", name="佐藤花子", attribs={"city": "京都"})
    make_subscriber(client, editor, email="JIRO@Example.com", name="Jiro Suzuki")
    taro, hanako, jiro = "taro@example.jp", "hanako@docomo.ne.jp", "JIRO@example.com"
    with app.app_context():
        sqlite = is_sqlite()
    expected = {
        "ample.j": [taro], "EXAMPLE": [jiro, taro], "docomo.ne": [hanako],  # email, any case
        "山田太": [taro], "suzuki": [jiro],  # name
        "大阪市": [taro], "gold": [taro],  # attribute values
        "田太": [taro], "花": [hanako], "京都": [hanako], "jp": [hanako, taro], "o": [jiro, hanako, taro],  # 1-2 chars
        " 山田太郎 ": [taro],  # the search is trimmed
        "nobody": [], "jp山田": [],  # a match never spans two fields
        "梅田": [taro], "true": [taro],  # values at any depth, booleans by name
        # Attribute names (and nulls) are not searched on PostgreSQL (migration 0020); SQLite's FTS5 table still
        # holds the JSON.
        "city": [hanako, taro] if sqlite else [], "plan": [taro] if sqlite else [], "null": [taro] if sqlite else [],
    }
    assert {search: found(client, editor, search) for search in expected} == expected


def test_the_index_follows_updates_deletes_and_imports(app: Flask, client: FlaskClient,
                                                       editor: dict[str, str]) -> None:
    sid = make_subscriber(client, editor, email="kenta@example.jp", name="高橋健太",
                          attribs={"city": "札幌"}).get_json()["data"]["id"]
    client.patch(f"/api/subscribers/{sid}", json={"name": "高橋翔太", "attribs": {"city": "函館市"}}, headers=editor)
    assert found(client, editor, "高橋健太") == found(client, editor, "札幌") == []
    assert found(client, editor, "高橋翔太") == found(client, editor, "函館市") == ["kenta@example.jp"]
    client.patch(f"/api/subscribers/{sid}", json={"email": "shota@example.jp"}, headers=editor)
    assert found(client, editor, "kenta") == [] and found(client, editor, "shota@") == ["shota@example.jp"]

    # The CSV import writes in bulk (COPY, executemany) and overwrites existing rows.
    import_csv(app, client, "email,name\r\nshota@example.jp,鈴木翔太\r\nyui@example.jp,伊藤結衣\r\n")
    assert found(client, editor, "鈴木翔") == ["shota@example.jp"] and found(client, editor, "高橋翔") == []
    assert found(client, editor, "伊藤結衣") == ["yui@example.jp"]

    client.delete(f"/api/subscribers/{sid}", headers=editor)
    assert found(client, editor, "shota") == [] and found(client, editor, "鈴木翔") == []
    with app.app_context():
        if is_sqlite():  # FTS5 compares its index with the rows of subscribers, and raises on a difference
            db.session.connection().exec_driver_sql(
                "INSERT INTO subscriber_search (subscriber_search, rank) VALUES ('integrity-check', 1)")


def import_csv(app: Flask, client: FlaskClient, body: str) -> None:
    """Import a CSV through listmonk's import API, overwriting existing subscribers."""
    headers = {"Authorization": f"token {api_user(app, 'admin', 'importer')}"}
    params = {"mode": "subscribe", "delim": ",", "lists": [make_list(app)], "overwrite": True}
    response = client.post("/api/import/subscribers", headers=headers, content_type="multipart/form-data",
                           data={"params": json.dumps(params), "file": (io.BytesIO(body.encode()), "s.csv")})
    assert response.status_code == 200
    with app.app_context():
        SimpleWorker([queue(IMPORT_QUEUE)], connection=redis()).work(burst=True)


@pytest.mark.parametrize(("search", "indexed"), [("user12", True), ("大阪府", True), ("us", False)])
def test_searches_of_three_characters_use_the_trigram_index(app: Flask, ctx: Any, search: str,
                                                            indexed: bool) -> None:
    compiled = str(subscribers_query(search).compile(db.engine, compile_kwargs={"literal_binds": True}))
    if is_sqlite():
        plan = str(db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + compiled).all())
        assert ("subscriber_search VIRTUAL TABLE" in plan) is indexed
    else:
        cursor = db.session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SET enable_seqscan = off")  # a near-empty table would be scanned whatever the index
        cursor.execute("SET enable_indexscan = off")  # nor walked in id order; GIN is read by bitmap scans
        cursor.execute("EXPLAIN " + compiled)
        assert "ix_subscribers_search" in str(cursor.fetchall()) or not indexed  # 1-2 characters: either way


def test_a_bulk_insert_rolled_back_leaves_the_index_trigger_in_place(app: Flask, client: FlaskClient) -> None:
    """On SQLite the bulk insert sets the row trigger aside inside its transaction: a rollback brings it back."""
    with app.app_context():
        subscribers_for_addresses(["rolled@example.jp"], create=True)
        db.session.rollback()
    headers = {"Authorization": f"token {api_user(app, 'editor')}"}
    make_subscriber(client, headers, email="searchable@example.jp")
    assert found(client, headers, "searchable") == ["searchable@example.jp"]
    assert found(client, headers, "rolled") == []
