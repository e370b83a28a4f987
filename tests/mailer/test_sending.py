"""Sending a campaign through real RQ workers to the capture SMTP server: who gets what, once."""

from __future__ import annotations

import email
import email.policy

from flask import Flask
from flask.testing import FlaskClient

from mailer.outbox import Outbox
from tests.conftest import run_jobs
from tests.core.test_api import api_user
from tests.mailer.test_compose import settings_env  # noqa: F401  (the sender's details for the footer)


def audience(client: FlaskClient, headers: dict[str, str]) -> list[int]:
    """Two overlapping lists with people who must not be mailed on them; return the list ids."""
    first = client.post("/api/lists", headers=headers, json={"name": "お知らせ"}).get_json()["data"]["id"]
    second = client.post("/api/lists", headers=headers, json={"name": "セール"}).get_json()["data"]["id"]
    people = [("山田 太郎", "taro..yamada.@docomo.ne.jp", [first, second], "enabled"),
              ("佐藤 花子", "hanako@example.jp", [second], "enabled"),
              ("悪い 人", "bad@example.jp", [first], "blocklisted")]
    for name, address, lists, status in people:
        client.post("/api/subscribers", headers=headers, json={"email": address, "name": name, "lists": lists,
                                                               "status": status, "preconfirm_subscriptions": True})
    return [first, second]


def test_a_campaign_reaches_each_recipient_once_personalised_with_the_list_headers(
        app: Flask, client: FlaskClient, capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "11月号", "subject": "{{ subscriber.name }}様へ", "content_type": "html", "lists": lists,
        "from_email": "回覧商事 <news@kairan.example>",
        "body": '<p>{{ subscriber.name }}様</p><a href="https://shop.example.jp/sale">セール</a>'}).get_json()["data"]
    started = client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    assert started.get_json()["data"]["status"] == "running" and started.get_json()["data"]["to_send"] == 2
    run_jobs(app)
    entries, total = capture.page(1, 10)
    assert total == 2 and sorted(e.to for e in entries) == ['佐藤 花子 <hanako@example.jp>',
                                                            '山田 太郎 <taro..yamada.@docomo.ne.jp>']
    for entry in entries:
        raw = capture.get(entry.key).raw  # type: ignore[union-attr]
        message = email.message_from_string(raw, policy=email.policy.default)
        name = "山田 太郎" if "docomo" in entry.to else "佐藤 花子"
        if "docomo" in entry.to:
            assert '<"taro..yamada."@docomo.ne.jp>' in raw  # the carrier's legacy form goes out quoted
        assert message["Subject"] == f"{name}様へ"
        assert f"{name}様" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Unsubscribe"].startswith("<http") and message["List-Id"].endswith(".kairan.example>")
        assert message["Feedback-ID"].endswith(":kairan:kairan.example") and message["Message-ID"]
    stats = client.get(f"/api/campaigns/{campaign['id']}", headers=headers).get_json()["data"]
    assert (stats["status"], stats["sent"], stats["failed"]) == ("finished", 2, 0)


def test_a_paused_campaign_sends_nothing_until_resumed(app: Flask, client: FlaskClient, capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "一時停止", "subject": "お知らせ", "content_type": "plain", "lists": lists,
        "body": "{{ subscriber.name }}様"}).get_json()["data"]
    url = f"/api/campaigns/{campaign['id']}/status"
    assert client.put(url, headers=headers, json={"status": "paused"}).status_code == 400  # a draft cannot pause
    client.put(url, headers=headers, json={"status": "running"})
    client.put(url, headers=headers, json={"status": "paused"})
    run_jobs(app)
    assert capture.page(1, 10)[1] == 0
    assert client.put(url, headers=headers, json={"status": "running"}).get_json()["data"]["to_send"] == 2
    run_jobs(app)
    assert capture.page(1, 10)[1] == 2  # each once: resuming queues only what is unsent
    assert client.get(f"/api/campaigns/{campaign['id']}", headers=headers).get_json()["data"]["status"] == "finished"
