"""The "event" segment rule on a real database: did, did_not, min_count, within_days, from/to, a property condition,
with list and attribute rules in groups, negated groups, counts through the API, and each bad input named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from automations.models import Event
from core.db import db
from lists.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from lists.segment_expressions import parse_expression
from lists.segment_rules import compile_rule

NOW = datetime.now(UTC)
PRINTER = {"product": "printer PX-1", "price": 39800}
INK = {"product": "ink cartridge", "price": 1200}

# Who did what, how many days ago.
HISTORY: dict[str, list[tuple[str, dict[str, Any], float]]] = {
    "taro@example.jp": [("purchase", PRINTER, 40), ("purchase", INK, 10), ("purchase", INK, 5)],
    "hanako@example.jp": [("purchase", PRINTER, 5), ("login", {}, 1)],
    "jiro@example.jp": [("login", {}, 1)],
    "saburo@example.jp": [("purchase", {"product": "ink", "price": 900}, 100)],
    "shiro@example.jp": [],
}


@pytest.fixture
def shoppers(app: Flask) -> int:
    """Five subscribers with purchases at different times; taro and hanako on a list with attribute city. Return
    the list's id."""
    with app.app_context():
        news = MailingList(name="news", description="", tags=[])
        db.session.add(news)
        db.session.flush()
        for email, events in HISTORY.items():
            subscriber = Subscriber(email=email, email_key=email, name=email.split("@")[0],
                                    attribs={"city": "大阪" if email.startswith(("taro", "jiro")) else "東京"})
            if email.startswith(("taro", "hanako")):
                subscriber.subscriptions.append(Subscription(list_id=news.id, status=SubscriptionStatus.CONFIRMED,
                                                             meta={}))
            db.session.add(subscriber)
            db.session.flush()
            for name, properties, days in events:
                db.session.add(Event(subscriber_id=subscriber.id, name=name, properties=properties,
                                     occurred_at=NOW - timedelta(days=days)))
        db.session.commit()
        return news.id


def emails(app: Flask, rules: dict[str, Any]) -> set[str]:
    with app.app_context():
        return {email.split("@")[0] for email in
                db.session.scalars(db.select(Subscriber.email).where(compile_rule(rules)))}


def event(op: str = "did", **value: Any) -> dict[str, Any]:
    return {"field": "event", "op": op, "value": {"name": "purchase", **value}}


def group(*rules: dict[str, Any], match: str = "all", negate: bool = False) -> dict[str, Any]:
    return {"match": match, "rules": list(rules), **({"negate": True} if negate else {})}


def test_did_and_did_not_within_days_and_at_least_n_times(app: Flask, shoppers: int) -> None:
    assert emails(app, group(event(within_days=30))) == {"taro", "hanako"}
    assert emails(app, group(event())) == {"taro", "hanako", "saburo"}  # no period: ever
    assert emails(app, group(event(within_days=30, min_count=2))) == {"taro"}
    assert emails(app, group(event(min_count=3))) == {"taro"}
    assert emails(app, group(event(min_count=4))) == set()
    assert emails(app, group(event("did_not", within_days=30))) == {"jiro", "saburo", "shiro"}
    assert emails(app, group(event("did_not", min_count=2))) == {"hanako", "jiro", "saburo", "shiro"}
    assert emails(app, group({"field": "event", "op": "did", "value": {"name": "login", "within_days": 2}})) == {
        "hanako", "jiro"}


def test_from_and_to_with_offsets(app: Flask, shoppers: int) -> None:
    jst = (NOW - timedelta(days=50)).astimezone(timezone(timedelta(hours=9))).isoformat()
    twenty = (NOW - timedelta(days=20)).isoformat()
    assert emails(app, group(event(**{"from": jst, "to": twenty}))) == {"taro"}  # the printer, 40 days ago
    assert emails(app, group(event(**{"from": twenty}))) == {"taro", "hanako"}
    assert emails(app, group(event(**{"to": twenty}))) == {"taro", "saburo"}
    # "to" is not included: an event at exactly that moment is outside.
    with app.app_context():
        hanako = db.session.scalars(db.select(Event).join(Subscriber).where(
            Subscriber.email == "hanako@example.jp", Event.name == "purchase")).one()
        moment = hanako.occurred_at.isoformat()
    assert "hanako" not in emails(app, group(event(**{"from": jst, "to": moment})))
    assert "hanako" in emails(app, group(event(**{"from": moment})))


def test_a_property_condition_on_text_and_numbers(app: Flask, shoppers: int) -> None:
    ink = {"key": "product", "op": "contains", "value": "ink"}
    assert emails(app, group(event(property=ink))) == {"taro", "saburo"}
    assert emails(app, group(event(within_days=30, property=ink))) == {"taro"}
    assert emails(app, group(event("did_not", within_days=30, property=ink))) == {"hanako", "jiro", "saburo",
                                                                                   "shiro"}
    assert emails(app, group(event(property={"key": "product", "op": "eq", "value": "ink"}))) == {"saburo"}
    assert emails(app, group(event(within_days=30, property={"key": "product", "op": "ne", "value": "ink cartridge"}
                                   ))) == {"hanako"}
    assert emails(app, group(event(property={"key": "price", "op": "gte", "value": 10000}))) == {"taro", "hanako"}
    assert emails(app, group(event(property={"key": "price", "op": "lt", "value": 1000}))) == {"saburo"}
    assert emails(app, group(event(property={"key": "price", "op": "eq", "value": 1200}, min_count=2))) == {"taro"}
    assert emails(app, group(event(property={"key": "price", "op": "gt", "value": 1200}, min_count=2))) == set()
    # A number compared with a text property (or a missing one) is never a match, and no cast error.
    assert emails(app, group(event(property={"key": "product", "op": "gt", "value": 1}))) == set()
    assert emails(app, group(event(property={"key": "colour", "op": "eq", "value": "black"}))) == set()


def test_with_list_and_attribute_rules_and_negated_groups(app: Flask, shoppers: int) -> None:
    news = {"field": "list", "op": "member", "value": shoppers}
    osaka = {"field": "attribs.city", "op": "eq", "value": "大阪"}
    ink = event("did_not", within_days=30, property={"key": "product", "op": "contains", "value": "ink"})
    assert emails(app, group(news, ink)) == {"hanako"}  # the printer reminder's audience
    assert emails(app, group(osaka, event(within_days=30))) == {"taro"}
    assert emails(app, group(osaka, event(within_days=30), match="any")) == {"taro", "hanako", "jiro"}
    assert emails(app, group(event(within_days=30), negate=True)) == {"jiro", "saburo", "shiro"}
    assert emails(app, group(news, group(event(within_days=30, min_count=2), negate=True))) == {"hanako"}
    assert emails(app, group(group(osaka, event(), match="any", negate=True), news, match="any")) == {
        "taro", "hanako", "shiro"}


def test_counts_through_the_api(app: Flask, shop: FlaskClient, shoppers: int) -> None:
    rules = group({"field": "list", "op": "member", "value": shoppers},
                  event("did_not", within_days=30, property={"key": "product", "op": "contains", "value": "ink"}))
    live = shop.post("/api/segments/count", json={"rules": rules})
    assert live.status_code == 200 and live.get_json() == {"data": {"count": 1}}
    assert shop.post("/api/segments/count", json={"rules": group(event(within_days=30))}).get_json() == {
        "data": {"count": 2}}
    created = shop.post("/api/segments", json={"name": "ink reminder", "rules": rules})
    assert created.status_code == 200 and created.get_json()["data"]["subscriber_count"] == 1
    segment_id = created.get_json()["data"]["id"]
    assert shop.get(f"/api/segments/{segment_id}").get_json()["data"]["subscriber_count"] == 1
    found = shop.get(f"/api/subscribers?segment_id={segment_id}").get_json()["data"]
    assert [s["email"] for s in found["results"]] == ["hanako@example.jp"]


@pytest.mark.parametrize(("rule", "message"), [
    ({"field": "event", "op": "done", "value": {"name": "purchase"}}, "Unknown comparison done for an event"),
    ({"field": "event", "op": "did", "value": "purchase"}, "value is an object"),
    (event(name="Purchase"), "An event's name is 1 to 64"),
    (event(name="x" * 65), "An event's name is 1 to 64"),
    (event(name="購入"), "An event's name is 1 to 64"),
    (event(within_days=0), "within_days must be a whole number from 1 to 3650"),
    (event(within_days=3651), "within_days must be a whole number from 1 to 3650"),
    (event(within_days="30"), "within_days must be a whole number from 1 to 3650"),
    (event(within_days=1.5), "within_days must be a whole number from 1 to 3650"),
    (event(within_days=float("inf")), "within_days must be a whole number from 1 to 3650"),  # JSON's Infinity
    (event(min_count=float("nan")), "min_count must be a whole number from 1 to 1000"),  # and NaN
    (event(min_count=0), "min_count must be a whole number from 1 to 1000"),
    (event(min_count=1001), "min_count must be a whole number from 1 to 1000"),
    (event(min_count=True), "min_count must be a whole number from 1 to 1000"),
    (event(**{"from": "2026-05-01T09:00:00"}), "from must be a time with its offset"),
    (event(**{"to": "2026-05-01"}), "to must be a time with its offset"),
    (event(**{"from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z"}), "from must be before its to"),
    (event(within_days=30, **{"from": "2026-05-01T00:00:00Z"}), "within_days or from/to, not both"),
    (event(since=3), "Unknown key since"),
    (event(property={"key": "product", "op": "starts_with", "value": "ink"}), "Unknown comparison starts_with"),
    (event(property={"key": "price", "op": "ne", "value": 3}), "Unknown comparison ne for a number property"),
    (event(property={"key": "", "op": "eq", "value": "ink"}), "needs the property's name"),
    (event(property={"key": "ok", "op": "eq", "value": True}), "compared with a text or a number"),
    (event(property=["product"]), "{\"key\", \"op\", \"value\"}"),
])
def test_bad_rules_are_a_400_naming_what_is_wrong(app: Flask, shop: FlaskClient, shoppers: int,
                                                   rule: dict[str, Any], message: str) -> None:
    for path in ("/api/segments/count", "/api/segments"):
        response = shop.post(path, json={"name": "bad", "rules": group(rule)})
        assert response.status_code == 400, response.get_json()
        assert message in response.get_json()["message"]


def test_did_within_days_reads_the_subscriber_time_index_on_postgresql(app: Flask, shoppers: int) -> None:
    """With a shop's history (2,000 subscribers, 20 events each over a year, 5 names) and statistics, each
    subscriber's events are looked up by (subscriber_id, occurred_at), not every purchase scanned per subscriber."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("EXPLAIN's plan is PostgreSQL's")
        db.session.execute(text("INSERT INTO subscribers (uuid, email, email_key, name, attribs, status, created_at,"
                                " updated_at) SELECT gen_random_uuid(), 'p' || n || '@example.com', 'p' || n ||"
                                " '@example.com', '', '{}', 'enabled', now(), now() FROM generate_series(1, 2000) n"))
        db.session.execute(text("INSERT INTO events (subscriber_id, name, properties, occurred_at, received_at, source)"
                                " SELECT s.id, (ARRAY['purchase', 'login', 'view', 'cart', 'search'])[1 + n % 5],"
                                " '{}', now() - (n * 18 || ' days')::interval, now(), 'api'"
                                " FROM subscribers s, generate_series(1, 20) n"))
        db.session.execute(text("ANALYZE subscribers"))
        db.session.execute(text("ANALYZE events"))
        stmt = db.select(db.func.count()).select_from(Subscriber).where(
            compile_rule(group(event(within_days=30, min_count=2))))
        sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(db.session.scalars(text(f"EXPLAIN {sql}")))
        assert "ix_events_subscriber_occurred" in plan, plan


@pytest.mark.parametrize(("expression", "rules"), [
    ('did("purchase", within_days=30, at_least=2)',
     group(event(within_days=30, min_count=2))),
    ('not did("purchase", within_days=30, product__contains="ink")',
     group(event("did_not", within_days=30, property={"key": "product", "op": "contains", "value": "ink"}))),
    ('did("purchase", price__gte=10000)', group(event(property={"key": "price", "op": "gte", "value": 10000}))),
    ('did("purchase", product="ink")', group(event(property={"key": "product", "op": "eq", "value": "ink"}))),
    ('did("purchase", since="2026-01-01T00:00:00+09:00", until="2026-02-01T00:00:00+09:00")',
     group(event(**{"from": "2026-01-01T00:00:00+09:00", "to": "2026-02-01T00:00:00+09:00"}))),
    ('attribs.city == "大阪" and (did("login", within_days=2) or not did("purchase"))',
     group({"field": "attribs.city", "type": "text", "op": "eq", "value": "大阪"},
           group({"field": "event", "op": "did", "value": {"name": "login", "within_days": 2}},
                 event("did_not"), match="any"))),
    ('not (did("purchase", within_days=30) and list == 1)',
     group(group(event(within_days=30), {"field": "list", "op": "member", "value": 1}), negate=True)),
])
def test_the_expression_language_reads_did(app: Flask, shoppers: int, expression: str,
                                           rules: dict[str, Any]) -> None:
    with app.app_context():
        parsed = parse_expression(expression)
    assert parsed == rules
    assert emails(app, parsed) == emails(app, json.loads(json.dumps(rules)))  # stored as JSON, compiled alike


def test_expressions_select_through_the_api(app: Flask, shop: FlaskClient, shoppers: int) -> None:
    expression = f'list == {shoppers} and not did("purchase", within_days=30, product__contains="ink")'
    assert shop.post("/api/segments/count", json={"expression": expression}).get_json() == {"data": {"count": 1}}
    found = shop.get("/api/subscribers", query_string={"query": 'did("purchase", at_least=3)'}).get_json()["data"]
    assert [s["email"] for s in found["results"]] == ["taro@example.jp"]


@pytest.mark.parametrize(("expression", "message"), [
    ('bought("purchase")', "Unknown function bought"),
    ("did()", "did takes the event's name first"),
    ('did("purchase", "ink")', "did takes the event's name first"),
    ('did("purchase", product="ink", price__gt=3)', "one property condition at most"),
    ('did("purchase", **extra)', "Name each argument of did"),
    ("did(purchase)", "Compare with a quoted text or a number"),
    ('did("Purchase")', "An event's name is 1 to 64"),
    ('did("purchase", at_least=0)', "min_count must be a whole number"),
    ('did("purchase", within_days=4000)', "within_days must be a whole number"),
    ('did("purchase", within_days=1e999)', "within_days must be a whole number"),  # a float literal too large: inf
    ('did("purchase", since="2026-01-01")', "from must be a time with its offset"),
    ('did("purchase", product__ne=3)', "Unknown comparison ne for a number property"),
])
def test_bad_expressions_are_a_400_naming_what_is_wrong(shop: FlaskClient, shoppers: int, expression: str,
                                                        message: str) -> None:
    response = shop.post("/api/segments/count", json={"expression": expression})
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["message"]
