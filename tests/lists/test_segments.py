"""Segments: rules compiled to SQL on SQLite and PostgreSQL, the expression language, the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.db import db
from core.errors import ValidationError
from lists.models import MailingList, Subscriber, SubscriberStatus, Subscription, SubscriptionStatus
from lists.segment_expressions import parse_expression
from lists.segment_rules import compile_rule, count
from tests.helpers import api_user, csrf_token, login

PEOPLE = [
    ("taro@docomo.ne.jp", "山田太郎", {"都市": "大阪", "age": 31, "joined": "2025-04-01"}, "confirmed"),
    ("hanako@example.jp", "佐藤花子", {"都市": "東京", "age": 28}, "unsubscribed"),
    ("jiro@example.com", "Jiro", {"age": "unknown"}, None),
    ("saburo@docomo.ne.jp", "三郎", {}, "confirmed"),
]


@pytest.fixture
def people(app: Flask) -> int:
    """Four subscribers, three of them on one list; return the list id."""
    with app.app_context():
        news = MailingList(name="news", description="", tags=[])
        db.session.add(news)
        db.session.flush()
        for email, name, attribs, status in PEOPLE:
            subscriber = Subscriber(email=email, email_key=email, name=name, attribs=attribs)
            if status:
                subscriber.subscriptions.append(
                    Subscription(list_id=news.id, status=SubscriptionStatus(status), meta={}))
            db.session.add(subscriber)
        blocked = db.session.scalars(db.select(Subscriber).where(Subscriber.email == "jiro@example.com")).one()
        blocked.status = SubscriberStatus.BLOCKLISTED
        db.session.commit()
        return news.id


def emails(app: Flask, rules: dict[str, Any]) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(db.select(Subscriber.email).where(compile_rule(rules))))


def test_rules_of_each_kind(app: Flask, people: int) -> None:
    def rule(**kwargs: Any) -> dict[str, Any]:
        return {"match": "all", "rules": [kwargs]}

    assert emails(app, rule(field="attribs.都市", op="eq", value="大阪")) == {"taro@docomo.ne.jp"}
    # "unknown" is not a number: never matched, and no cast error on PostgreSQL.
    assert emails(app, rule(field="attribs.age", type="number", op="gte", value=30)) == {"taro@docomo.ne.jp"}
    assert emails(app, rule(field="attribs.age", op="exists")) == {
        "taro@docomo.ne.jp", "hanako@example.jp", "jiro@example.com"}
    assert emails(app, rule(field="attribs.joined", type="date", op="before", value="2025/12/31")) == {
        "taro@docomo.ne.jp"}
    assert emails(app, rule(field="email", op="ends_with", value="@DOCOMO.ne.jp")) == {
        "taro@docomo.ne.jp", "saburo@docomo.ne.jp"}
    assert emails(app, rule(field="list", op="member", value=people, status="confirmed")) == {
        "taro@docomo.ne.jp", "saburo@docomo.ne.jp"}
    assert emails(app, rule(field="list", op="not_member", value=people)) == {"jiro@example.com"}
    assert emails(app, rule(field="status", op="eq", value="blocklisted")) == {"jiro@example.com"}
    assert emails(app, rule(field="created_at", op="within_days", value=1)) == {p[0] for p in PEOPLE}
    any_of = {"match": "any", "rules": [{"field": "name", "op": "contains", "value": "花子"},
                                        {"field": "attribs.都市", "op": "eq", "value": "大阪"}]}
    assert emails(app, any_of) == {"taro@docomo.ne.jp", "hanako@example.jp"}


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("text", "大阪", {"taro@docomo.ne.jp"}), ("text", "unknown", {"jiro@example.com"}),
    ("text", "31", {"taro@docomo.ne.jp"}),  # the text of a number matches it, as ->> does
    ("number", 31, {"taro@docomo.ne.jp"}), ("number", "28.0", {"hanako@example.jp"}), ("number", 5, set()),
])
def test_equality_rules_mean_the_same_whether_postgresql_uses_containment(
        app: Flask, people: int, kind: str, value: Any, expected: set[str]) -> None:
    field = "attribs.都市" if value in ("大阪",) else "attribs.age"
    assert emails(app, {"match": "all", "rules": [{"field": field, "type": kind, "op": "eq", "value": value}]}) \
        == expected
    with app.app_context():  # the GIN index of migration 0006 answers @> on PostgreSQL
        compiled = str(compile_rule({"field": field, "type": kind, "op": "eq", "value": value}).compile(db.engine))
        assert ("@>" in compiled) is (db.engine.dialect.name == "postgresql" and value != "31")


def test_expression_language_compiles_the_same_way(app: Flask, people: int) -> None:
    expression = f'(attribs.都市 == "大阪" or "花子" in name) and list == {people} and not status == "blocklisted"'
    assert emails(app, parse_expression(expression)) == {"taro@docomo.ne.jp", "hanako@example.jp"}
    assert emails(app, parse_expression('attribs["都市"] != "大阪"')) == {
        "hanako@example.jp", "jiro@example.com", "saburo@docomo.ne.jp"}
    with app.app_context():
        assert count(parse_expression("attribs.age > 25")) == 2


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("subscribers.id > 0 OR 1=1", "cannot be read"),  # raw SQL
        ("__import__('os').system('x')", "Use comparisons"),
        ("email.__class__ == 'x'", "Only email, name"),
        ("password == 'x'", "Only email, name"),
        ("email == attribs.x", "Compare with a quoted text or a number."),
        ("", "empty"),
    ],
)
def test_anything_else_is_refused_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_expression(expression)
    assert reason in caught.value.message


def test_segments_api_and_subscriber_query(app: Flask, client: FlaskClient, people: int) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor')}"}
    created = client.post("/api/segments", headers=editor, json={
        "name": "関西の会員", "expression": f'attribs.都市 == "大阪" and list == {people}'})
    assert created.status_code == 200
    segment = created.get_json()["data"]
    assert segment["subscriber_count"] == 1 and segment["rules"]["rules"][0]["field"] == "attribs.都市"
    live = client.post("/api/segments/count", headers=editor, json={"rules": {"match": "any", "rules": [
        {"field": "email", "op": "contains", "value": "docomo"}]}})
    assert live.get_json() == {"data": {"count": 2}}
    by_segment = client.get(f"/api/subscribers?segment_id={segment['id']}", headers=editor).get_json()["data"]
    assert [s["email"] for s in by_segment["results"]] == ["taro@docomo.ne.jp"]
    by_query = client.get('/api/subscribers?query="docomo" in email', headers=editor).get_json()["data"]
    assert by_query["total"] == 2
    listmonk_sql = client.get("/api/subscribers?query=subscribers.attribs->>'都市' = '大阪'", headers=editor)
    assert listmonk_sql.status_code == 200 and listmonk_sql.get_json()["data"]["total"] == 1  # translated, not run
    raw_sql = client.get("/api/subscribers?query=subscribers.id = 1; DELETE FROM subscribers", headers=editor)
    assert raw_sql.status_code == 400 and "“;” and further statements" in raw_sql.get_json()["message"]
    bad = client.post("/api/segments", headers=editor, json={"name": "x", "rules": {"rules": [{"field": "password"}]}})
    assert bad.status_code == 400 and bad.get_json() == {"message": "Unknown field password in a rule."}
    assert client.delete(f"/api/segments/{segment['id']}", headers=editor).get_json() == {"data": True}


def test_segment_pages_save_rules_or_an_expression(app: Flask, client: FlaskClient, users: dict[str, str],
                                                   people: int) -> None:
    login(client, "editor")
    token = csrf_token(client, "/subscribers/segments/new")
    rules = {"match": "all", "rules": [{"field": "email", "op": "contains", "value": "docomo"}]}
    saved = client.post("/subscribers/segments/new", data={"csrf_token": token, "name": "docomo",
                                                           "rules": json.dumps(rules)})
    assert saved.status_code == 302
    listing = client.get("/subscribers/segments/").get_data(as_text=True)
    assert 'data-segment="docomo"' in listing and ">2</a>" in listing  # two subscribers match now
    bad = client.post("/subscribers/segments/new", data={"csrf_token": token, "name": "bad",
                                                         "expression": "DROP TABLE subscribers"})
    assert bad.status_code == 400 and "cannot be read" in bad.get_data(as_text=True)
    live = client.post("/subscribers/segments/count", json={"expression": 'attribs.都市 == "東京"'},
                       headers={"X-CSRFToken": token})
    assert live.get_json() == {"data": {"count": 1}}
    no_token = client.post("/subscribers/segments/count", json={"rules": rules})
    assert no_token.status_code == 400  # CSRF, as every browser POST
    filtered = client.get("/subscribers/?segment_id=1").get_data(as_text=True)
    assert "2 subscribers" in filtered


def test_viewers_read_segments_but_cannot_save(app: Flask, client: FlaskClient, users: dict[str, str],
                                               people: int) -> None:
    login(client, "viewer")
    assert client.get("/subscribers/segments/").status_code == 200
    assert client.get("/subscribers/segments/new").status_code == 403
    token = csrf_token(client, "/subscribers/segments/")
    assert client.post("/subscribers/segments/new", data={"csrf_token": token, "name": "x"}).status_code == 403


def test_listmonk_query_endpoints_take_the_expression_language(app: Flask, client: FlaskClient,
                                                               people: int) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor')}"}
    with app.app_context():
        vip = MailingList(name="vip", description="", tags=[])
        db.session.add(vip)
        db.session.commit()
        vip_id = vip.id
    added = client.put("/api/subscribers/query/lists", headers=editor, json={
        "query": '"docomo" in email', "action": "add", "target_list_ids": [vip_id], "status": "confirmed"})
    assert added.get_json() == {"data": True}
    assert emails(app, {"match": "all", "rules": [{"field": "list", "op": "member", "value": vip_id}]}) == {
        "taro@docomo.ne.jp", "saburo@docomo.ne.jp"}
    client.put("/api/subscribers/query/blocklist", headers=editor,
               json={"query": 'name == "三郎"', "list_ids": [people]})
    assert emails(app, {"match": "all", "rules": [{"field": "status", "op": "eq", "value": "blocklisted"}]}) == {
        "jiro@example.com", "saburo@docomo.ne.jp"}
    client.post("/api/subscribers/query/delete", headers=editor, json={"query": 'status == "blocklisted"'})
    assert emails(app, {"match": "all", "rules": []}) == {"taro@docomo.ne.jp", "hanako@example.jp"}
    refused = client.post("/api/subscribers/query/delete", headers=editor, json={"query": "1=1; DROP TABLE x"})
    assert refused.status_code == 400
    empty = client.post("/api/subscribers/query/delete", headers=editor, json={})
    assert empty.status_code == 400 and empty.get_json()["message"].startswith("Give a query")
