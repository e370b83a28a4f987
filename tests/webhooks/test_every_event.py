"""Issue 19: every event type, made through the doors the world uses (the API, a campaign really sent, its pixel,
link and one-click unsubscribe, a bounce and a complaint reported, an import, automations, a survey answer),
reaches a real receiver on loopback, signed as Standard Webhooks says (verified with ``standardwebhooks``), in
order for each subscriber, delivered by real RQ jobs."""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from mailer.outbox import Outbox
from tests.helpers import api_user, run_jobs
from tests.tracking.helpers import BROWSER, tracked
from tests.webhooks.receiver import Receiver
from webhooks.catalogue import EVENT_TYPES

SALE = "https://shop.example.jp/sale"


def add_endpoint(client: FlaskClient, headers: dict[str, str], receiver: Receiver, **fields: Any) -> dict[str, Any]:
    """An endpoint for the receiver through the API; the receiver verifies with the secret it answers."""
    answer = client.post("/api/webhooks", headers=headers, json={
        "url": receiver.url, "event_types": list(EVENT_TYPES), **fields})
    assert answer.status_code == 200, answer.get_json()
    endpoint = answer.get_json()["data"]
    assert endpoint["secret"].startswith("whsec_")
    receiver.secret = endpoint["secret"]
    return dict(endpoint)


def automation(client: FlaskClient, headers: dict[str, str], name: str, step: dict[str, Any]) -> int:
    """An active automation entered by hand, whose only step ends the run."""
    created = client.post("/api/automations", headers=headers, json={"name": name, "definition": {
        "trigger": {"kind": "manual"}, "quiet_hours": None, "start": "only", "steps": {"only": step}}})
    assert created.status_code == 200, created.get_json()
    automation_id = int(created.get_json()["data"]["id"])
    activated = client.put(f"/api/automations/{automation_id}/status", headers=headers, json={"status": "active"})
    assert activated.status_code == 200, activated.get_json()
    return automation_id


def test_every_event_type_reaches_a_real_receiver_signed_and_in_order(
        app: Flask, client: FlaskClient, capture: Outbox, receiver: Receiver) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    add_endpoint(client, admin, receiver)

    # Subscribers: created (with a subscription and its consent record), updated, and one deleted at the end.
    list_id = client.post("/api/lists", headers=admin, json={"name": "お知らせ"}).get_json()["data"]["id"]
    people = {}
    for address in ("taro@example.jp", "hanako@example.jp", "jiro@example.jp"):
        created = client.post("/api/subscribers", headers=admin, json={
            "email": address, "name": address.split("@")[0], "lists": [list_id], "preconfirm_subscriptions": True})
        assert created.status_code == 200, created.get_json()
        people[address.split("@")[0]] = created.get_json()["data"]["id"]
    assert client.put(f"/api/subscribers/{people['taro']}", headers=admin, json={
        "email": "taro@example.jp", "name": "山田 太郎", "lists": [list_id]}).status_code == 200

    # A campaign sent for real (capture server), then read, clicked, unsubscribed from, bounced, complained about.
    campaign = client.post("/api/campaigns", headers=admin, json={
        "name": "十二月号", "subject": "師走のお知らせ", "content_type": "html", "lists": [list_id],
        "from_email": "回覧商事 <news@kairan.example>",
        "body": f'<p><a href="{SALE}">歳末セール</a>のご案内です。</p>'}).get_json()["data"]
    started = client.put(f"/api/campaigns/{campaign['id']}/status", headers=admin, json={"status": "running"})
    assert started.status_code == 200, started.get_json()
    run_jobs(app)
    paths = tracked(capture)
    web = app.test_client()
    assert web.get(paths["taro"][0], headers={"User-Agent": BROWSER}).status_code == 200
    assert web.get(paths["taro"][1][0], headers={"User-Agent": BROWSER}).status_code == 302
    unsubscribe = next(
        str(message["List-Unsubscribe"]) for message in (
            email.message_from_string(capture.get(entry.key).raw, policy=email.policy.default)  # type: ignore[union-attr]
            for entry in capture.page(1, 50)[0]) if "hanako" in str(message["To"]))
    one_click = re.fullmatch(r"<(https?://[^>]+)>, <mailto:[^>]+>", unsubscribe)
    assert one_click
    assert app.test_client(use_cookies=False).post(urlsplit(one_click[1]).path,
                                                   data={"List-Unsubscribe": "One-Click"}).status_code == 200
    for kind in ("hard", "complaint"):
        assert client.post("/webhooks/bounce", headers=admin, json={
            "email": "jiro@example.jp", "campaign_uuid": campaign["uuid"], "type": kind}).status_code == 200

    # An import, two automations (a goal, an exit) and a survey answer.
    imported = client.post("/api/import/subscribers", headers=admin, content_type="multipart/form-data", data={
        "params": json.dumps({"mode": "subscribe", "subscription_status": "confirmed", "delim": ",",
                              "lists": [list_id]}),
        "file": (io.BytesIO(b"email,name\r\nsaburo@example.jp,Saburo\r\n"), "subscribers.csv")})
    assert imported.status_code == 200, imported.get_json()
    goal = automation(client, admin, "購入", {"type": "goal"})
    leave = automation(client, admin, "退出", {"type": "exit"})
    for automation_id in (goal, leave):
        enrolled = client.post(f"/api/automations/{automation_id}/enrol", headers=admin,
                               json={"subscriber_ids": [people["taro"]]})
        assert enrolled.status_code == 200, enrolled.get_json()
    answered = client.post("/api/events", headers=admin, json={
        "name": "survey.answered", "email": "taro@example.jp", "properties": {"question": "nps", "score": 9}})
    assert answered.status_code in (200, 202), answered.get_json()
    assert client.delete(f"/api/subscribers/{people['jiro']}", headers=admin).status_code == 200
    run_jobs(app)  # the import, the engine, the flush of the pixel and click, and the webhook deliveries

    events = receiver.events()
    assert all(r.verified for r in receiver.received), "every request carries a valid Standard Webhooks signature"
    assert set(EVENT_TYPES) <= {e["type"] for e in events}, set(EVENT_TYPES) - {e["type"] for e in events}
    kinds = Counter(e["type"] for e in events)
    assert kinds["subscriber.created"] == 3 and kinds["campaign.started"] == 1 and kinds["message.sent"] == 3
    # Each message once: a webhook-id never repeats when nothing failed.
    assert len({r.msg_id for r in receiver.received}) == len(receiver.received)
    of = {e["type"]: e["data"] for e in events}
    assert "山田 太郎" in [e["data"]["subscriber"]["name"] for e in events if e["type"] == "subscriber.updated"]
    assert of["message.opened"]["message"]["by"] in ("person", "machine")
    assert of["message.clicked"]["message"]["url"] == SALE
    assert of["message.unsubscribed"]["message"]["email"] == "hanako@example.jp"
    assert of["message.bounced"]["message"]["type"] == "hard"
    assert of["message.complained"]["message"]["email"] == "jiro@example.jp"
    assert of["import.finished"]["import"]["status"] == "finished"
    assert of["automation.goal_reached"]["run"]["automation_id"] == goal
    assert of["automation.exited"]["run"]["state"] == "completed"
    assert of["survey.answered"]["event"]["properties"]["score"] == 9
    assert of["subscriber.deleted"]["subscriber"]["email"] == "jiro@example.jp"
    # In order for each subscriber: taro was created before he was updated, sent to before he opened.
    taro = [e["type"] for e in events if (e["data"].get("subscriber") or e["data"].get("message") or {}).get(
        "subscriber_id", (e["data"].get("subscriber") or {}).get("id")) == people["taro"]]
    assert taro.index("subscriber.created") < taro.index("subscriber.updated")
    assert taro.index("message.sent") < taro.index("message.opened") < taro.index("message.clicked") or (
        taro.index("message.sent") < taro.index("message.clicked"))
