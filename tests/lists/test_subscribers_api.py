"""listmonk's /api/subscribers: shapes, search, subscriptions with consent, errors."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.db import db
from lists.consent_evidence import describe
from lists.models import ConsentMethod, ConsentRecord, Subscription
from tests.helpers import api_user
from tests.lists.helpers import make_subscriber


def make_list(client: FlaskClient, headers: dict[str, str], name: str, optin: str = "single") -> int:
    return int(client.post("/api/lists", json={"name": name, "optin": optin}, headers=headers).get_json()["data"]["id"])


def test_create_returns_the_whole_subscriber_with_subscription_states(client: FlaskClient,
                                                                      editor: dict[str, str]) -> None:
    weekly = make_list(client, editor, "週刊")
    vip = make_list(client, editor, "VIP", optin="double")
    response = make_subscriber(client, editor, email="ＴＡＲＯ＠Example.jp", name="山田太郎",
                               lists=[weekly, vip], attribs={"city": "大阪"})
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["email"] == "TARO@example.jp" and data["name"] == "山田太郎" and data["status"] == "enabled"
    assert {(entry["name"], entry["subscription_status"]) for entry in data["lists"]} == {
        ("週刊", "confirmed"), ("VIP", "unconfirmed")}  # double opt-in waits for confirmation
    assert data["created_at"].endswith("+00:00") and len(data["uuid"]) == 36


def test_duplicate_address_is_409_whatever_its_case(client: FlaskClient, editor: dict[str, str]) -> None:
    assert make_subscriber(client, editor, email="hanako@example.jp").status_code == 200
    again = make_subscriber(client, editor, email="HANAKO@example.jp")
    assert again.status_code == 409 and again.get_json() == {"message": "E-mail already exists."}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "a@b.jp\r\nBcc: x@y.jp"}, "An address may not contain line breaks or control characters."),
        ({"email": "nobody"}, "nobody has no @ with text on both sides."),
        ({"email": "a@example.jp", "lists": [999]}, "No list has the id 999."),
        ({"email": "a@example.jp", "status": "vip"}, "status must be one of: enabled, disabled, blocklisted."),
        ({"email": "a@example.jp", "attribs": ["x"]}, "attribs must be a JSON object."),
    ],
)
def test_invalid_subscribers_are_400_and_nothing_is_saved(client: FlaskClient, editor: dict[str, str],
                                                          body: dict[str, Any], message: str) -> None:
    response = make_subscriber(client, editor, **body)
    assert response.status_code == 400 and response.get_json() == {"message": message}
    assert client.get("/api/subscribers", headers=editor).get_json()["data"]["total"] == 0


def test_search_and_filters(client: FlaskClient, editor: dict[str, str]) -> None:
    weekly = make_list(client, editor, "weekly")
    make_subscriber(client, editor, email="taro@example.jp", name="山田太郎", lists=[weekly])
    make_subscriber(client, editor, email="hanako@docomo.ne.jp", name="佐藤花子", attribs={"city": "京都"})
    make_subscriber(client, editor, email="jiro@example.com", name="Jiro", status="blocklisted")

    def emails(query: str) -> list[str]:
        return [s["email"] for s in client.get(f"/api/subscribers?{query}", headers=editor)
                .get_json()["data"]["results"]]

    assert emails("search=EXAMPLE.jp") == ["taro@example.jp"]
    assert emails("search=花子") == ["hanako@docomo.ne.jp"]
    assert emails("search=京都") == ["hanako@docomo.ne.jp"]  # attribute values are searched too
    assert emails(f"list_id={weekly}") == ["taro@example.jp"]
    assert emails("subscription_status=confirmed") == ["taro@example.jp"]
    assert emails("status=blocklisted") == ["jiro@example.com"]
    assert emails("") == ["jiro@example.com", "hanako@docomo.ne.jp", "taro@example.jp"]  # newest first
    # listmonk's SQL is translated (tests/lists/test_listmonk_query.py), and what it may not do refused by name.
    bad = client.get("/api/subscribers?query=subscribers.id>(SELECT 0)", headers=editor)
    assert bad.status_code == 400 and bad.get_json()["message"].startswith("“(SELECT 0)” is not allowed")


def test_put_patch_and_delete(client: FlaskClient, editor: dict[str, str]) -> None:
    sid = make_subscriber(client, editor, email="a@example.jp", name="A", attribs={"k": 1}).get_json()["data"]["id"]
    patched = client.patch(f"/api/subscribers/{sid}", json={"name": "Ａさん"}, headers=editor).get_json()["data"]
    assert patched["name"] == "Ａさん" and patched["attribs"] == {"k": 1}  # PATCH keeps what it was not given
    put = client.put(f"/api/subscribers/{sid}", json={"email": "b@example.jp", "name": "B"}, headers=editor)
    assert put.get_json()["data"]["attribs"] == {}  # PUT replaces
    other = make_subscriber(client, editor, email="c@example.jp").get_json()["data"]["id"]
    clash = client.patch(f"/api/subscribers/{other}", json={"email": "B@example.jp"}, headers=editor)
    assert clash.status_code == 409
    assert client.delete(f"/api/subscribers?id={sid}&id={other}", headers=editor).get_json() == {"data": True}
    missing = client.get(f"/api/subscribers/{sid}", headers=editor)
    assert missing.status_code == 400 and missing.get_json() == {"message": "Subscriber not found."}


def test_list_management_and_blocklist_keep_consent_records(app: Flask, client: FlaskClient,
                                                            editor: dict[str, str]) -> None:
    weekly = make_list(client, editor, "weekly")
    sid = make_subscriber(client, editor, email="a@example.jp").get_json()["data"]["id"]
    for action in ("add", "unsubscribe"):
        response = client.put("/api/subscribers/lists", headers=editor,
                              json={"ids": [sid], "action": action, "target_list_ids": [weekly]})
        assert response.status_code == 200
    lists = client.get(f"/api/subscribers/{sid}", headers=editor).get_json()["data"]["lists"]
    assert [entry["subscription_status"] for entry in lists] == ["unsubscribed"]
    counts = client.get(f"/api/lists/{weekly}", headers=editor).get_json()["data"]
    assert counts["subscriber_count"] == 1 and counts["subscriber_statuses"] == {"unsubscribed": 1}
    client.put("/api/subscribers/lists", headers=editor,
               json={"ids": [sid], "action": "add", "target_list_ids": [weekly], "status": "confirmed"})
    assert client.put(f"/api/subscribers/{sid}/blocklist", headers=editor).status_code == 200
    data = client.get(f"/api/subscribers/{sid}", headers=editor).get_json()["data"]
    assert data["status"] == "blocklisted" and data["lists"][0]["subscription_status"] == "unsubscribed"
    with app.app_context():
        records = db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
        assert [(r.status.value, r.method) for r in records] == [
            ("confirmed", ConsentMethod.API), ("unsubscribed", ConsentMethod.API),
            ("confirmed", ConsentMethod.API), ("unsubscribed", ConsentMethod.API)]
        assert describe(records[0].evidence) == "API user crm"
    bad = client.put("/api/subscribers/lists", headers=editor,
                     json={"ids": [sid], "action": "merge", "target_list_ids": [weekly]})
    assert bad.status_code == 400 and bad.get_json() == {"message": "action must be one of: add, remove, unsubscribe."}


def test_deleting_a_list_or_a_subscriber_deletes_their_subscriptions_and_consent_records(
        app: Flask, client: FlaskClient, editor: dict[str, str]) -> None:
    # No foreign keys do this (migration 0020): delete_lists and delete_subscribers do, and nothing is left over.
    weekly, monthly = make_list(client, editor, "weekly"), make_list(client, editor, "monthly")
    taro = make_subscriber(client, editor, email="taro@example.jp", lists=[weekly, monthly]).get_json()["data"]["id"]
    hanako = make_subscriber(client, editor, email="hanako@example.jp", lists=[weekly]).get_json()["data"]["id"]

    def left() -> set[tuple[str, int, int]]:
        with app.app_context():
            return ({("subscription", s.subscriber_id, s.list_id) for s in db.session.scalars(select(Subscription))}
                    | {("consent", c.subscriber_id, c.list_id) for c in db.session.scalars(select(ConsentRecord))})

    both = {(kind, sid, lst) for kind in ("subscription", "consent")
            for sid, lst in ((taro, weekly), (taro, monthly), (hanako, weekly))}
    assert left() == both
    assert client.delete(f"/api/lists/{weekly}", headers=editor).status_code == 200
    assert left() == {("subscription", taro, monthly), ("consent", taro, monthly)}
    assert client.delete(f"/api/subscribers/{taro}", headers=editor).status_code == 200
    assert left() == set()
    assert client.get(f"/api/subscribers/{hanako}", headers=editor).get_json()["data"]["lists"] == []


def test_viewers_read_but_cannot_write(app: Flask, client: FlaskClient) -> None:
    viewer = {"Authorization": f"token {api_user(app, 'viewer', 'reader')}"}
    assert client.get("/api/subscribers", headers=viewer).status_code == 200
    refused = make_subscriber(client, viewer, email="a@example.jp")
    assert refused.status_code == 403 and refused.get_json() == {"message": "You do not have permission to do this."}
