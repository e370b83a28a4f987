"""/api/automations on a real database: create and edit drafts, messages, activation refused naming the step,
enrolment and the runs it starts (moved on by the engine in-process), a run's history, figures per step,
permissions and bad input."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from automations import engine
from automations.models import Run
from core.db import db, utcnow
from mailer.models import Delivery, DeliveryStatus
from tests.helpers import api_user
from tracking.models import CampaignTotals

WAIT = {"type": "wait", "mode": "duration", "days": 1, "next": None}


def add_subscriber(client: FlaskClient, email: str) -> int:
    response = client.post("/api/subscribers", json={"email": email, "name": email.split("@", maxsplit=1)[0]})
    assert response.status_code == 200, response.get_json()
    return int(response.get_json()["data"]["id"])


def create(client: FlaskClient, definition: dict[str, Any] | None = None, name: str = "購入後フォロー") -> int:
    body: dict[str, Any] = {"name": name}
    if definition is not None:
        body["definition"] = definition
    response = client.post("/api/automations", json=body)
    assert response.status_code == 200, response.get_json()
    return int(response.get_json()["data"]["id"])


def message(client: FlaskClient, automation_id: int, body: str = "<p>ご購入ありがとうございます。</p>") -> int:
    """A send step's message, filled through the campaign API as an integrator does."""
    response = client.post(f"/api/automations/{automation_id}/messages", json={"name": "お礼", "subject": "ありがとう"})
    assert response.status_code == 200, response.get_json()
    campaign_id = int(response.get_json()["data"]["campaign_id"])
    filled = client.put(f"/api/campaigns/{campaign_id}", json={"body": body, "content_type": "html"})
    assert filled.status_code == 200, filled.get_json()
    return campaign_id


def journey(campaign_id: int) -> dict[str, Any]:
    """Enrolled by hand: a thank-you mail, then a day's wait."""
    return {"trigger": {"kind": "manual"}, "quiet_hours": None, "start": "thanks",
            "steps": {"thanks": {"type": "send", "campaign_id": campaign_id, "next": "later"}, "later": WAIT}}


def set_status(client: FlaskClient, automation_id: int, status: str) -> Any:
    return client.put(f"/api/automations/{automation_id}/status", json={"status": status})


def test_create_read_list_edit_and_delete_a_draft(shop: FlaskClient) -> None:
    automation_id = create(shop)
    one = shop.get(f"/api/automations/{automation_id}").get_json()["data"]
    assert one["name"] == "購入後フォロー" and one["status"] == "draft" and one["version"] is None
    assert one["definition"] == {}
    assert one["counts"] == {"running": 0, "converted": 0, "completed": 0, "exited": 0, "failed": 0}

    draft = {"trigger": {"kind": "manual"}, "start": "later", "steps": {"later": WAIT}}
    changed = shop.put(f"/api/automations/{automation_id}", json={"definition": draft})
    assert changed.status_code == 200 and changed.get_json()["data"]["definition"] == draft
    renamed = shop.put(f"/api/automations/{automation_id}", json={"name": "  新しい名前 "}).get_json()["data"]
    assert renamed["name"] == "新しい名前" and renamed["definition"] == draft

    second = create(shop, name="誕生日")
    page = shop.get("/api/automations?per_page=1").get_json()["data"]
    assert page["total"] == 2 and page["per_page"] == 1
    assert [a["id"] for a in page["results"]] == [second]  # newest first
    assert "definition" not in page["results"][0]

    assert shop.delete(f"/api/automations/{automation_id}").get_json() == {"data": True}
    gone = shop.get(f"/api/automations/{automation_id}")
    assert gone.status_code == 400 and gone.get_json()["message"] == "Automation not found."


def test_activation_is_refused_naming_the_step(shop: FlaskClient) -> None:
    unreachable = {"trigger": {"kind": "manual"}, "start": "a", "steps": {"a": WAIT, "orphan": WAIT}}
    loop = {"trigger": {"kind": "manual"}, "start": "a",
            "steps": {"a": {"type": "update", "attributes": {"x": 1}, "next": "b"},
                      "b": {"type": "update", "attributes": {"y": 1}, "next": "a"}}}
    for definition, field in ((unreachable, "steps.orphan"), (loop, "steps.a")):
        automation_id = create(shop, definition)
        refused = set_status(shop, automation_id, "active")
        assert refused.status_code == 400 and refused.get_json()["field"] == field, refused.get_json()
    # A send step whose message has no content yet.
    automation_id = create(shop)
    empty = shop.post(f"/api/automations/{automation_id}/messages", json={"name": "お礼"}).get_json()["data"]
    shop.put(f"/api/automations/{automation_id}", json={"definition": journey(empty["campaign_id"])})
    refused = set_status(shop, automation_id, "active")
    assert refused.status_code == 400 and refused.get_json()["field"] == "steps.thanks"
    assert "thanks" in refused.get_json()["message"]
    assert shop.get(f"/api/automations/{automation_id}").get_json()["data"]["status"] == "draft"


def test_enrol_runs_history_and_stats(app: Flask, shop: FlaskClient) -> None:
    automation_id = create(shop)
    campaign_id = message(shop, automation_id)
    shop.put(f"/api/automations/{automation_id}", json={"definition": journey(campaign_id)})
    taro, hanako = add_subscriber(shop, "taro@example.jp"), add_subscriber(shop, "hanako@example.jp")

    assert shop.post(f"/api/automations/{automation_id}/enrol",
                     json={"subscriber_ids": [taro]}).status_code == 409  # still a draft
    active = set_status(shop, automation_id, "active")
    assert active.status_code == 200, active.get_json()
    assert active.get_json()["data"]["status"] == "active" and active.get_json()["data"]["version"] == 1
    # The message runs with its automation and can still be edited: later sends use the change.
    assert shop.put(f"/api/campaigns/{campaign_id}", json={"subject": "ありがとうございます"}).status_code == 200

    started = shop.post(f"/api/automations/{automation_id}/enrol", json={"subscriber_ids": [taro, hanako, 999999]})
    assert started.get_json() == {"data": {"started": 2}}
    again = shop.post(f"/api/automations/{automation_id}/enrol", json={"subscriber_ids": [taro]})
    assert again.get_json() == {"data": {"started": 0}}  # once per subscriber
    with app.app_context():
        engine.wake()

    runs = shop.get(f"/api/automations/{automation_id}/runs").get_json()["data"]
    assert runs["total"] == 2
    by_email = {r["subscriber"]["email"]: r for r in runs["results"]}
    run = by_email["taro@example.jp"]
    assert (run["subscriber"]["id"], run["version"], run["state"], run["step"]) == (taro, 1, "waiting", "later")
    assert run["next_wake_at"] and run["ended_at"] is None and run["reason"] is None
    mine = shop.get(f"/api/automations/{automation_id}/runs?subscriber_id={taro}&state=waiting&step=later")
    assert [r["id"] for r in mine.get_json()["data"]["results"]] == [run["id"]]
    assert shop.get(f"/api/automations/{automation_id}/runs?state=converted").get_json()["data"]["total"] == 0

    detail = shop.get(f"/api/automations/{automation_id}/runs/{run['id']}").get_json()["data"]
    first = detail["history"][0]
    assert (first["step"], first["outcome"]) == ("thanks", "sent") and first["at"]
    assert detail["id"] == run["id"] and detail["step"] == "later"

    listed = shop.get("/api/automations").get_json()["data"]["results"][0]
    assert listed["counts"]["running"] == 2 and listed["version"] == 1

    # Figures of the message as the campaign reports count them: one delivered, opened, clicked, unsubscribed.
    with app.app_context():
        db.session.execute(update(Delivery).where(Delivery.campaign_id == campaign_id)
                           .values(status=DeliveryStatus.SENT, sent_at=utcnow()))
        db.session.execute(update(Delivery).where(Delivery.campaign_id == campaign_id,
                                                  Delivery.subscriber_id == taro)
                           .values(first_open_at=utcnow(), first_click_at=utcnow(), unsubscribed_at=utcnow()))
        db.session.add(CampaignTotals(campaign_id=campaign_id, opened=1, clicked=1, machine_opened=0,
                                      machine_clicked=0, anonymous_opens=0, anonymous_machine_opens=0,
                                      anonymous_clicks=0, anonymous_machine_clicks=0))
        assert len(list(db.session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign_id)))) == 2
        db.session.commit()
    stats = shop.get(f"/api/automations/{automation_id}/stats").get_json()["data"]
    assert stats["version"] == 1
    thanks, later = stats["steps"]
    assert thanks["step"] == "thanks" and thanks["type"] == "send" and thanks["campaign_id"] == campaign_id
    assert (thanks["entered"], thanks["sent"], thanks["waiting"]) == (2, 2, 0)
    assert (thanks["delivered"], thanks["opened"], thanks["clicked"], thanks["unsubscribed"]) == (2, 1, 1, 1)
    assert later["step"] == "later" and (later["entered"], later["waiting"]) == (2, 2)
    assert "delivered" not in later

    # Active: not deleted, but paused and archived (the waiting runs exit), then deleted.
    refused = shop.delete(f"/api/automations/{automation_id}")
    assert refused.status_code == 409 and "Archive" in refused.get_json()["message"]
    assert set_status(shop, automation_id, "paused").get_json()["data"]["status"] == "paused"
    assert shop.delete(f"/api/automations/{automation_id}").status_code == 409
    archived = set_status(shop, automation_id, "archived").get_json()["data"]
    assert archived["status"] == "archived" and archived["counts"]["exited"] == 2
    assert set_status(shop, automation_id, "active").status_code == 409
    assert shop.delete(f"/api/automations/{automation_id}").status_code == 200
    assert shop.get(f"/api/campaigns/{campaign_id}").status_code == 400  # its message went with it
    with app.app_context():  # and its runs and the message's deliveries
        assert db.session.scalar(select(func.count()).select_from(Run)) == 0
        assert db.session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id)) == 0


def test_enrol_a_segment(shop: FlaskClient) -> None:
    automation_id = create(shop, {"trigger": {"kind": "manual"}, "start": "later", "steps": {"later": WAIT}})
    assert set_status(shop, automation_id, "active").status_code == 200
    add_subscriber(shop, "taro@example.jp")
    add_subscriber(shop, "jiro@example.com")
    segment = shop.post("/api/segments", json={"name": "jp", "expression": 'email == "taro@example.jp"'})
    assert segment.status_code == 200, segment.get_json()
    started = shop.post(f"/api/automations/{automation_id}/enrol",
                        json={"segment_id": segment.get_json()["data"]["id"]})
    assert started.get_json() == {"data": {"started": 1}}
    missing = shop.post(f"/api/automations/{automation_id}/enrol", json={"segment_id": 999999})
    assert missing.status_code == 400


def test_a_viewer_reads_but_cannot_change(app: Flask, shop: FlaskClient) -> None:
    automation_id = create(shop)
    viewer = app.test_client()
    viewer.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'viewer', 'reader')}"
    assert viewer.get("/api/automations").status_code == 200
    assert viewer.get(f"/api/automations/{automation_id}/runs").status_code == 200
    assert viewer.get(f"/api/automations/{automation_id}/stats").get_json() == {"data": {"version": None,
                                                                                          "steps": []}}
    for method, path, body in (("post", "/api/automations", {"name": "x"}),
                               ("put", f"/api/automations/{automation_id}", {"name": "x"}),
                               ("delete", f"/api/automations/{automation_id}", None),
                               ("put", f"/api/automations/{automation_id}/status", {"status": "active"}),
                               ("post", f"/api/automations/{automation_id}/messages", {"name": "x"}),
                               ("post", f"/api/automations/{automation_id}/enrol", {"subscriber_ids": [1]})):
        assert getattr(viewer, method)(path, json=body).status_code == 403, (method, path)


def test_bad_input_is_refused_with_a_clear_message(shop: FlaskClient) -> None:
    automation_id = create(shop)
    base = f"/api/automations/{automation_id}"
    cases: list[tuple[str, str, Any, int, str | None]] = [
        ("post", "/api/automations", {}, 400, "name"),
        ("post", "/api/automations", {"name": "x" * 201}, 400, "name"),
        ("post", "/api/automations", {"name": "x", "definition": [1]}, 400, "definition"),
        ("post", "/api/automations", {"name": "x", "definition": {"steps": [1]}}, 400, "definition"),
        ("post", "/api/automations", {"name": "x", "definition": {"start": ["a"]}}, 400, "definition"),
        ("post", "/api/automations", {"name": "x", "definition": {"x": 2**70}}, 400, "definition"),
        ("post", "/api/automations", {"name": "x", "definition": {"x": "あ" * 100_000}}, 400, "definition"),
        ("put", base, {"definition": {"steps": {"a": 1}}}, 400, "steps.a"),
        ("put", base, {"definition": {"steps": {"a": {"type": "wait", "next": [1]}}}}, 400, "steps.a"),
        ("put", base, {"definition": {"steps": {"a": {"type": "split", "branches": 5}}}}, 400, "steps.a"),
        ("put", base, {"definition": {"steps": {"a": {"type": "update", "add_lists": 3}}}}, 400, "steps.a"),
        ("put", "/api/automations/999999", {"name": "x"}, 400, None),
        ("put", f"{base}/status", {"status": "running"}, 400, "status"),
        ("put", f"{base}/status", {}, 400, "status"),
        ("put", f"{base}/status", {"status": "paused"}, 409, None),  # a draft is not running
        ("post", f"{base}/messages", {}, 400, "name"),
        ("post", f"{base}/messages", {"name": "x", "subject": 5}, 400, "subject"),
        ("post", f"{base}/enrol", {}, 400, "subscriber_ids"),
        ("post", f"{base}/enrol", {"subscriber_ids": [1], "segment_id": 1}, 400, "subscriber_ids"),
        ("post", f"{base}/enrol", {"subscriber_ids": "1,2"}, 400, "subscriber_ids"),
        ("post", f"{base}/enrol", {"subscriber_ids": ["x"]}, 400, "subscriber_ids"),
        ("post", f"{base}/enrol", {"subscriber_ids": list(range(1, 10_002))}, 400, "subscriber_ids"),
        ("post", f"{base}/enrol", {"segment_id": "x"}, 400, "segment_id"),
        ("post", f"{base}/enrol", {"subscriber_ids": [1]}, 409, None),  # not active
        ("get", f"{base}/runs?state=lost", None, 400, "state"),
        ("get", f"{base}/runs?subscriber_id=x", None, 400, None),
        ("get", f"{base}/runs?step={'x' * 41}", None, 400, "step"),
        ("get", f"{base}/runs/1", None, 400, None),
        ("get", "/api/automations/999999/stats", None, 400, None),
    ]
    for method, path, body, status, field in cases:
        response = getattr(shop, method)(path, json=body) if body is not None else getattr(shop, method)(path)
        answer = response.get_json()
        assert response.status_code == status, (method, path, body, answer)
        assert answer["message"], (method, path, body)
        if field is not None:
            assert answer["field"] == field, (method, path, body, answer)
    # Not JSON at all.
    assert shop.post("/api/automations", data="name=x").status_code == 400


def test_messages_in_japanese_and_english(shop: FlaskClient) -> None:
    japanese = shop.post("/api/automations", json={}, headers={"Accept-Language": "ja"}).get_json()
    assert japanese["message"] == "オートメーションに 200 文字以内の名前を付けてください。"
    english = shop.post("/api/automations", json={}, headers={"Accept-Language": "en"}).get_json()
    assert english["message"] == "Give the automation a name of at most 200 characters."
