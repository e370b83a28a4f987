"""count_subscribers counts a list filter from the subscriptions alone: it must agree with the rows it stands for."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import db
from lists.models import ConsentMethod
from lists.services import create_list
from lists.subscribers import Consent, count_subscribers, create_subscriber, delete_subscribers, subscribers_query


@pytest.mark.parametrize("filters", [
    {"list_id": 1}, {"list_id": 2}, {"list_id": 1, "subscription_status": "confirmed"},
    {"list_id": 1, "subscription_status": "unconfirmed"}, {"list_id": 1, "search": "yamada"},
    {"list_id": 2, "status": "blocklisted"}, {}, {"search": "example.jp"},
    {"rules": {"match": "all", "rules": [{"field": "list", "op": "member", "value": 2},
                                         {"field": "name", "op": "contains", "value": "山田"}]}},
    {"rules": {"match": "any", "rules": [{"field": "list", "op": "member", "value": 2}]}, "search": "yamada1"},
])
def test_the_count_agrees_with_the_rows(ctx: None, filters: dict[str, Any]) -> None:
    first, second = create_list({"name": "お知らせ"}), create_list({"name": "セール"})
    assert (first.id, second.id) == (1, 2)
    for number in range(7):
        create_subscriber({"email": f"yamada{number}@example.jp", "name": f"山田{number}",
                           "status": "blocklisted" if number == 6 else "enabled",
                           "lists": [first.id] if number % 2 else [first.id, second.id],
                           "preconfirm_subscriptions": number < 4}, Consent(ConsentMethod.ADMIN))
    delete_subscribers([3])  # their subscriptions go with them
    rows = db.session.scalar(select(func.count()).select_from(subscribers_query(**filters).order_by(None).subquery()))
    assert count_subscribers(**filters) == rows
