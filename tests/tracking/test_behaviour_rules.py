"""Segment rules on opens and clicks (opened, clicked, engaged) on a real database: people's only, never machines',
by campaign and period, with other rules, through the API, and bad input named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.db import db
from lists.errors import RuleError
from lists.models import Subscriber
from lists.segment_expressions import parse_expression
from lists.segment_rules import compile_rule
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from tests.helpers import api_user
from tracking.models import EventKind, TrackingEvent

NOW = datetime.now(UTC)
STREAM = count(1)
# Who did what with which campaign (0 or 1), how many days ago, person (True) or machine (False).
HISTORY: dict[str, list[tuple[int, EventKind, float, bool]]] = {
    "taro": [(0, EventKind.OPEN, 100, True), (1, EventKind.OPEN, 10, True), (1, EventKind.CLICK, 10, True)],
    "hanako": [(1, EventKind.OPEN, 5, False), (1, EventKind.CLICK, 5, False)],  # a link scanner
    "jiro": [(0, EventKind.CLICK, 50, True)],  # images blocked: a click, no pixel
    "saburo": [],  # sent both, never opened
}


@pytest.fixture
def campaigns(app: Flask) -> list[int]:
    """Two sent campaigns to four subscribers and their opens and clicks; return the campaigns' ids."""
    with app.app_context():
        ids = []
        for name in ("spring", "summer"):
            campaign = Campaign(name=name, subject=name, status=CampaignStatus.FINISHED)
            db.session.add(campaign)
            db.session.flush()
            ids.append(campaign.id)
        for name, events in [*HISTORY.items(), ("shiro", [])]:
            subscriber = Subscriber(email=f"{name}@example.jp", email_key=f"{name}@example.jp", name=name, attribs={})
            db.session.add(subscriber)
            db.session.flush()
            if name == "shiro":
                continue  # never sent anything
            for campaign_id in ids:
                delivery = Delivery(campaign_id=campaign_id, subscriber_id=subscriber.id, status=DeliveryStatus.SENT,
                                    sent_at=NOW - timedelta(days=200))
                db.session.add(delivery)
                db.session.flush()
                for index, kind, days, human in events:
                    if ids[index] != campaign_id:
                        continue
                    at = NOW - timedelta(days=days)
                    db.session.add(TrackingEvent(stream_id=f"{next(STREAM)}-0", campaign_id=campaign_id,
                                                 delivery_id=delivery.id, kind=kind, at=at, human=human,
                                                 rule="person" if human else "scanner"))
                    if human:  # as the flusher keeps them
                        delivery.first_open_at = min(delivery.first_open_at or at, at)
                        if kind is EventKind.CLICK:
                            delivery.first_click_at = min(delivery.first_click_at or at, at)
        db.session.commit()
        return ids


def names(app: Flask, *rules: dict[str, Any], match: str = "all") -> set[str]:
    with app.app_context():
        where = compile_rule({"match": match, "rules": list(rules)})
        return set(db.session.scalars(db.select(Subscriber.name).where(where)))


def rule(field: str, op: str = "did", **value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def test_opened_and_clicked_count_people_only(app: Flask, campaigns: list[int]) -> None:
    spring, summer = campaigns
    assert names(app, rule("opened")) == {"taro", "jiro"}  # hanako's opens were a machine's; jiro's click opens
    assert names(app, rule("clicked")) == {"taro", "jiro"}
    assert names(app, rule("opened", campaign_id=spring)) == {"taro", "jiro"}
    assert names(app, rule("clicked", campaign_id=summer)) == {"taro"}
    assert names(app, rule("opened", "did_not", campaign_id=summer)) == {"hanako", "jiro", "saburo", "shiro"}
    assert names(app, rule("opened", within_days=30)) == {"taro"}
    assert names(app, rule("opened", campaign_id=spring, within_days=60)) == {"jiro"}
    assert names(app, rule("clicked", "did_not", within_days=60)) == {"hanako", "saburo", "shiro"}


def test_engaged_is_a_person_s_open_or_click_in_the_last_n_days(app: Flask, campaigns: list[int]) -> None:
    assert names(app, rule("engaged", "did_not", within_days=90)) == {"hanako", "saburo", "shiro"}
    assert names(app, rule("engaged", "did_not", within_days=30)) == {"hanako", "jiro", "saburo", "shiro"}
    assert names(app, rule("engaged", within_days=365)) == {"taro", "jiro"}
    # Win back: sent something, and no person's open or click in 90 days.
    assert names(app, rule("engaged", "did_not", within_days=90), {"field": "name", "op": "ne", "value": "shiro"},
                 {"match": "all", "rules": [rule("opened")], "negate": True}) == {"hanako", "saburo"}


def test_counts_through_the_api(app: Flask, campaigns: list[int]) -> None:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'crm')}"
    response = client.post("/api/segments/count", json={"rules": {"match": "any", "rules": [
        rule("clicked", campaign_id=campaigns[1]), rule("engaged", "did_not", within_days=90)]}})
    assert response.status_code == 200 and response.get_json() == {"data": {"count": 4}}


@pytest.mark.parametrize(("bad", "message"), [
    (rule("opened", "done"), "Unknown comparison done for opened"),
    ({"field": "clicked", "op": "did", "value": 3}, "The value of a rule on clicked is an object"),
    (rule("opened", campaign_id="x"), "campaign_id must be a campaign's id"),
    (rule("opened", campaign_id=0), "campaign_id must be a campaign's id"),
    (rule("clicked", within_days=0), "within_days must be a whole number from 1 to 3650"),
    (rule("clicked", within_days=float("inf")), "within_days must be a whole number from 1 to 3650"),  # Infinity
    (rule("opened", campaign_id=float("nan")), "campaign_id must be a campaign's id"),  # JSON's NaN, as Python reads it
    (rule("engaged", "did_not"), "An engaged rule needs within_days"),
    (rule("engaged", "did_not", within_days=90, campaign_id=1), "Unknown key campaign_id in a rule on engaged"),
    (rule("opened", since=3), "Unknown key since in a rule on opened"),
])
def test_bad_rules_are_a_400(app: Flask, campaigns: list[int], bad: dict[str, Any], message: str) -> None:
    client: FlaskClient = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'crm')}"
    response = client.post("/api/segments/count", json={"rules": {"match": "all", "rules": [bad]}})
    assert response.status_code == 400 and message in response.get_json()["message"]


def test_the_expression_language_reads_opened_clicked_and_engaged(app: Flask, campaigns: list[int]) -> None:
    spring, summer = campaigns
    cases = {
        f"opened(campaign={spring})": rule("opened", campaign_id=spring),
        f"not clicked(campaign={summer}, within_days=30)": rule("clicked", "did_not", campaign_id=summer,
                                                                within_days=30),
        "not engaged(within_days=90)": rule("engaged", "did_not", within_days=90),
        "opened()": rule("opened"),
    }
    with app.app_context():
        for expression, expected in cases.items():
            parsed = parse_expression(expression)
            assert parsed == {"match": "all", "rules": [expected]}, expression
            assert names(app, *parsed["rules"]) == names(app, expected)
        win_back = parse_expression('not engaged(within_days=90) and opened() or name == "saburo"')
        assert names(app, win_back) == {"saburo"}
        with pytest.raises(RuleError, match="Name each argument of opened"):
            parse_expression("opened(12)")
