"""An unmodified listmonk API client's ordinary integration, call by call, as listmonk's API documentation shows it.

The requests are written here as listmonk's documented API (v6) has them, paths, bodies, form fields and
credentials alike, so the test needs nothing outside this repository. Each call's status and the shape of
its answer are checked; every call runs even when one before it failed (later ids are then missing, as a
real client's would be), and the failure lists each call that did not answer as listmonk does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import api_user, basic

# listmonk's own layout, as its users keep them: its content slot, its helpers, no sender details.
LISTMONK_LAYOUT = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>{{ .Campaign.Subject }}</title></head>
<body>
  <div class="gutter">{{ template "content" . }}</div>
  <div class="footer">
    <p><a href="{{ UnsubscribeURL }}">Unsubscribe</a> &middot; <a href="{{ MessageURL }}">View online</a></p>
  </div>
  {{ TrackView }}
</body>
</html>
"""
SUBSCRIBER_KEYS = {"id", "uuid", "email", "name", "attribs", "status", "lists", "created_at", "updated_at"}
LIST_KEYS = {"id", "uuid", "name", "type", "optin", "tags", "subscriber_count", "created_at", "updated_at"}
PAGE_KEYS = {"results", "query", "total", "per_page", "page"}
TEMPLATE_KEYS = {"id", "name", "type", "subject", "body", "is_default", "created_at", "updated_at"}
CAMPAIGN_KEYS = {"id", "uuid", "name", "subject", "status", "lists", "template_id", "content_type", "tags",
                 "from_email", "body", "created_at", "updated_at"}

Shape = Callable[[Any], object]


class Integration:
    """Sends each call as a listmonk client does and records whether it answered as listmonk would."""

    def __init__(self, client: FlaskClient, pair: str) -> None:
        self.client, self.headers = client, {"Authorization": f"token {pair}"}
        self.outcomes: list[tuple[str, str | None]] = []

    def call(self, method: str, path: str, shape: Shape, *, status: int = 200, headers: dict[str, str] | None = None,
             **body: Any) -> Any:
        """Send one call; return its JSON ``data`` (None when the call did not answer as expected)."""
        response = self.client.open(path, method=method, headers=headers or self.headers, **body)
        answer = response.get_json(silent=True)
        problem = None
        if response.status_code != status:
            problem = f"answered {response.status_code}: {response.get_data(as_text=True)[:300]}"
        else:
            try:
                shape(answer["data"] if isinstance(answer, dict) and "data" in answer else response)
            except (AssertionError, KeyError, TypeError, IndexError) as error:
                problem = f"answer not as listmonk's: {error!r} in {str(answer)[:300]}"
        self.outcomes.append((f"{method} {path}", problem))
        return None if problem else (answer or {}).get("data") if isinstance(answer, dict) else answer

    @property
    def failures(self) -> list[str]:
        return [f"{call}: {problem}" for call, problem in self.outcomes if problem]


def keys(*wanted: set[str]) -> Shape:
    """The answer is an object with (at least) these keys."""
    def check(data: Any) -> None:
        assert isinstance(data, dict), data
        missing = set().union(*wanted) - set(data)
        assert not missing, f"missing {sorted(missing)}"
    return check


def page(count: int, *item_keys: set[str]) -> Shape:
    """A paged answer with ``count`` results, each with these keys."""
    def check(data: Any) -> None:
        keys(PAGE_KEYS)(data)
        assert data["total"] == count == len(data["results"]), f"{data['total']} results, not {count}"
        for item in data["results"]:
            keys(*item_keys)(item)
    return check


def where(condition: Callable[[Any], bool], what: str) -> Shape:
    """The answer's data meets a condition."""
    def check(data: Any) -> None:
        assert condition(data), what
    return check


def true(data: Any) -> None:
    assert data is True, data


def html(*texts: str) -> Shape:
    def check(response: Any) -> None:
        assert response.mimetype == "text/html", response.mimetype
        for text in texts:
            assert text in response.get_data(as_text=True), text
    return check


def first_id(data: Any) -> int:
    return int(data["results"][0]["id"]) if data and data.get("results") else 0


def test_an_ordinary_listmonk_integration_works_unchanged(app: Flask, client: FlaskClient) -> None:
    pair = api_user(app, "admin", "integration")
    lm = Integration(client, pair)
    lm.call("GET", "/api/health", true)

    # Lists.
    news = lm.call("POST", "/api/lists", keys(LIST_KEYS), json={
        "name": "Newsletter", "type": "public", "optin": "single", "tags": ["news"], "description": "Monthly news"})
    members = lm.call("POST", "/api/lists", keys(LIST_KEYS), json={
        "name": "Members", "type": "private", "optin": "double", "tags": ["members"]})
    news_id, members_id = (news or {}).get("id", 0), (members or {}).get("id", 0)
    lm.call("GET", "/api/lists?page=1&per_page=all", page(2, LIST_KEYS))

    # Subscribers: created, then looked up by email, id and uuid with listmonk's SQL expressions.
    lm.call("POST", "/api/subscribers", keys(SUBSCRIBER_KEYS), json={
        "email": "taro@example.com", "name": "Taro Yamada", "status": "enabled", "lists": [news_id],
        "attribs": {"city": "Osaka", "plan": {"tier": "gold"}}, "preconfirm_subscriptions": True})
    lm.call("POST", "/api/subscribers", keys(SUBSCRIBER_KEYS), json={
        "email": "hanako@example.com", "name": "Hanako Sato", "status": "enabled", "lists": [members_id]})
    by_email = lm.call("GET", "/api/subscribers?query=" + quote("subscribers.email='taro@example.com'"),
                       page(1, SUBSCRIBER_KEYS))
    taro_id = first_id(by_email)
    taro_uuid = by_email["results"][0]["uuid"] if by_email else "unknown"
    lm.call("GET", f"/api/subscribers?query={quote(f'subscribers.id={taro_id}')}", page(1, SUBSCRIBER_KEYS))
    lm.call("GET", "/api/subscribers?query=" + quote(f"subscribers.uuid='{taro_uuid}'"), page(1, SUBSCRIBER_KEYS))
    lm.call("GET", f"/api/subscribers?list_id={news_id}&query="
            + quote("subscribers.attribs->'plan'->>'tier' = 'gold' AND subscribers.status = 'enabled'"),
            page(1, SUBSCRIBER_KEYS))
    lm.call("GET", f"/api/subscribers/{taro_id}", keys(SUBSCRIBER_KEYS))
    lm.call("PUT", f"/api/subscribers/{taro_id}", keys(SUBSCRIBER_KEYS), json={
        "email": "taro@example.com", "name": "Taro Yamada", "status": "enabled", "lists": [news_id],
        "attribs": {"city": "Kyoto", "plan": {"tier": "platinum"}}, "preconfirm_subscriptions": True})
    lm.call("PUT", "/api/subscribers/lists", true, json={
        "ids": [taro_id], "action": "add", "target_list_ids": [members_id], "status": "confirmed"})

    # Confirming Hanako's double opt-in on her behalf, with the API credentials (HTTP Basic, as some clients do).
    hanako = lm.call("GET", "/api/subscribers?query=" + quote("subscribers.email='hanako@example.com'"),
                     page(1, SUBSCRIBER_KEYS))
    hanako_id = first_id(hanako)
    hanako_uuid = hanako["results"][0]["uuid"] if hanako else "unknown"
    lm.call("POST", f"/subscription/optin/{hanako_uuid}", html("Members"), headers=basic(pair),
            data={"l": [(members or {}).get("uuid", "")], "confirm": "true"})
    lm.call("GET", f"/api/subscribers/{hanako_id}",
            where(lambda data: [s["subscription_status"] for s in data["lists"]] == ["confirmed"], "confirmed"))

    # Templates: listmonk's own layout, made the default, and a transactional template.
    layout = lm.call("POST", "/api/templates", keys(TEMPLATE_KEYS), json={
        "name": "listmonk layout", "type": "campaign", "body": LISTMONK_LAYOUT})
    layout_id = (layout or {}).get("id", 0)
    lm.call("GET", "/api/templates", where(lambda data: len(data) == 4 and all(TEMPLATE_KEYS <= set(t) for t in data),
                                           "the three seeded layouts and listmonk's"))
    lm.call("GET", f"/api/templates/{layout_id}/preview", html("回覧商事", "大阪市北区1-2-3"))
    lm.call("PUT", f"/api/templates/{layout_id}/default", keys(TEMPLATE_KEYS))
    receipt = lm.call("POST", "/api/templates", keys(TEMPLATE_KEYS), json={
        "name": "Order receipt", "type": "tx", "subject": "Order {{ .Tx.Data.order_id }}",
        "body": "<p>Hi {{ .Subscriber.FirstName }}, thank you for order {{ .Tx.Data.order_id }}.</p>"})

    # A campaign from draft to running.
    campaign_body = {
        "name": "Launch", "subject": "Hello {{ .Subscriber.FirstName }}", "lists": [news_id, members_id],
        "from_email": "Kairan News <news@kairan.example>", "content_type": "richtext", "messenger": "email",
        "type": "regular", "tags": ["launch"], "template_id": layout_id,
        "body": "<p>Hello {{ .Subscriber.Name }}, we have launched.</p>"}
    campaign = lm.call("POST", "/api/campaigns", keys(CAMPAIGN_KEYS), json=campaign_body)
    campaign_id = (campaign or {}).get("id", 0)
    lm.call("GET", f"/api/campaigns/{campaign_id}", where(lambda data: data["status"] == "draft", "a draft"))
    lm.call("PUT", f"/api/campaigns/{campaign_id}", keys(CAMPAIGN_KEYS),
            json={**campaign_body, "subject": "We have launched, {{ .Subscriber.FirstName }}"})
    lm.call("GET", f"/api/campaigns/{campaign_id}/preview", html("we have launched", "回覧商事"))
    lm.call("POST", f"/api/campaigns/{campaign_id}/test", true,
            json={**campaign_body, "subscribers": ["taro@example.com"]})
    lm.call("PUT", f"/api/campaigns/{campaign_id}/status",
            where(lambda data: CAMPAIGN_KEYS <= set(data) and data["status"] == "running", "running"),
            json={"status": "running"})
    lm.call("GET", "/api/campaigns?status=running", page(1, CAMPAIGN_KEYS))

    # A transactional message.
    lm.call("POST", "/api/tx", true, json={
        "subscriber_email": "taro@example.com", "template_id": (receipt or {}).get("id", 0),
        "data": {"order_id": "A-1001"}, "content_type": "html"})

    # Blocking and deleting, by id and by query.
    lm.call("PUT", "/api/subscribers/blocklist", true, json={"ids": [hanako_id]})
    lm.call("PUT", "/api/subscribers/query/blocklist", true,
            json={"query": "subscribers.email='taro@example.com'"})
    lm.call("GET", "/api/subscribers?query=" + quote("subscribers.status='blocklisted'"), page(2, SUBSCRIBER_KEYS))
    lm.call("DELETE", f"/api/subscribers/{taro_id}", true)
    lm.call("POST", "/api/subscribers/query/delete", true,
            json={"query": "subscribers.email='hanako@example.com'"})
    lm.call("GET", "/api/subscribers?query=" + quote("subscribers.email LIKE '%@example.com'"), page(0))

    print(f"listmonk integration: {len(lm.outcomes) - len(lm.failures)} of {len(lm.outcomes)} calls as listmonk")
    assert not lm.failures, "\n".join(lm.failures)
