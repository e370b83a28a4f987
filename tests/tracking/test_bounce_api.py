"""listmonk's bounces API and the Bounces page, over bounces recorded from real bounce messages.

What each bad input gets:
- an editor's or a viewer's token: 403 (bounces are admins' by default, as listmonk's bounces:get/manage);
- order_by or order or type outside what is listed, campaign_id that is no number: 400 naming what is allowed;
- an unknown bounce or subscriber id: 400 "not found" (listmonk's status for it);
- DELETE /api/bounces with neither id nor all=true, or an id that is no number: 400, nothing deleted;
- on the page, an unknown type in the address bar: a message, and every bounce shown; an unknown
  unread message: 404.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.db import db
from tests.helpers import api_user, login, submit
from tests.tracking.bounce_mail import complaint, dsn, sent_campaign, verp
from tracking.bounce_parser import parse
from tracking.bounces import receive, record
from tracking.models import Bounce, UnreadMail

FULL = "452 4.2.2 Mailbox full"


@pytest.fixture
def recorded(app: Flask) -> dict[str, Any]:
    """Three bounces of two campaigns (hard by smtp, soft by imap, a complaint by pop3) and one unread message."""
    with app.app_context():
        first = sent_campaign(["gone@example.jp", "angry@example.jp"], name="11月号")
        second = sent_campaign(["full@example.jp"], name="12月号")
        record(parse(dsn("gone@example.jp", token=verp(first["gone@example.jp"]))), "smtp")
        record(parse(dsn("full@example.jp", status="4.2.2", diagnostic=FULL, token=verp(second["full@example.jp"]))),
               "imap")
        record(parse(complaint("angry@example.jp", token=verp(first["angry@example.jp"]))), "pop3")
        receive(b"\xff\xfe not mail", "smtp")
        return {"first": first["gone@example.jp"].campaign_id, "second": second["full@example.jp"].campaign_id,
                "gone": first["gone@example.jp"].subscriber_id}


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    return {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}


def emails(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [row["email"] for row in response.get_json()["data"]["results"]]


def test_bounces_are_listed_in_listmonks_shape(client: FlaskClient, admin: dict[str, str],
                                               recorded: dict[str, Any]) -> None:
    body = client.get("/api/bounces", headers=admin).get_json()["data"]
    assert (body["total"], body["per_page"], body["page"]) == (3, 20, 1)
    newest = body["results"][0]
    assert newest["email"] == "angry@example.jp" and newest["type"] == "complaint" and newest["source"] == "pop3"
    gone = body["results"][2]
    assert gone["campaign"] == {"id": recorded["first"], "name": "11月号"} and gone["subscriber_id"] == recorded["gone"]
    assert gone["subscriber_uuid"] and gone["campaign_uuid"] and gone["meta"] == {"rule": "rfc3464"}
    assert (gone["status"], gone["sender_refused"]) == ("5.1.1", False) and "User unknown" in gone["diagnostic"]
    assert set(gone) >= {"id", "type", "source", "meta", "created_at", "email", "subscriber_id", "subscriber_uuid",
                         "campaign"}
    assert client.get(f"/api/bounces/{gone['id']}", headers=admin).get_json()["data"] == gone


def test_bounces_filter_and_order_as_listmonk(client: FlaskClient, admin: dict[str, str],
                                              recorded: dict[str, Any]) -> None:
    assert emails(client.get(f"/api/bounces?campaign_id={recorded['second']}", headers=admin)) == ["full@example.jp"]
    assert emails(client.get("/api/bounces?source=smtp", headers=admin)) == ["gone@example.jp"]
    assert emails(client.get("/api/bounces?type=complaint", headers=admin)) == ["angry@example.jp"]
    assert emails(client.get("/api/bounces?order_by=email&order=asc", headers=admin)) == [
        "angry@example.jp", "full@example.jp", "gone@example.jp"]
    assert emails(client.get("/api/bounces?order_by=campaign_name&order=desc&per_page=1&page=1", headers=admin)) == [
        "full@example.jp"]
    for query, message in (("order_by=status", "order_by must be one of: email, campaign_name, source, created_at."),
                           ("order=up", "order must be asc or desc."),
                           ("type=bogus", "type must be one of: hard, soft, complaint."),
                           ("campaign_id=x", "campaign_id must be a whole number from 1 to 2147483647.")):
        response = client.get(f"/api/bounces?{query}", headers=admin)
        assert (response.status_code, response.get_json()) == (400, {"message": message})


def test_only_admins_read_or_delete_bounces(app: Flask, client: FlaskClient, recorded: dict[str, Any]) -> None:
    for role in ("editor", "viewer"):
        headers = {"Authorization": f"token {api_user(app, role, role)}"}
        assert client.get("/api/bounces", headers=headers).status_code == 403
        assert client.get(f"/api/subscribers/{recorded['gone']}/bounces", headers=headers).status_code == 403
        assert client.delete("/api/bounces?all=true", headers=headers).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(Bounce.id))) == 3


def test_bounces_are_deleted_by_id_by_subscriber_or_all(client: FlaskClient, admin: dict[str, str],
                                                        recorded: dict[str, Any]) -> None:
    ids = {row["email"]: row["id"] for row in client.get("/api/bounces", headers=admin).get_json()["data"]["results"]}
    for query, message in (("", "Name the bounces to delete (id), or ask for all of them (all=true)."),
                           ("id=1,x", "id must be a whole number from 1 to 2147483647.")):
        response = client.delete(f"/api/bounces?{query}", headers=admin)
        assert (response.status_code, response.get_json()) == (400, {"message": message})
    assert client.get("/api/bounces/99999", headers=admin).get_json() == {"message": "Bounce not found."}
    assert client.get("/api/subscribers/99999/bounces", headers=admin).status_code == 400

    subscriber = client.get(f"/api/subscribers/{recorded['gone']}/bounces", headers=admin).get_json()["data"]
    assert [row["email"] for row in subscriber] == ["gone@example.jp"]
    assert client.delete(f"/api/subscribers/{recorded['gone']}/bounces", headers=admin).get_json() == {"data": True}
    assert client.get(f"/api/subscribers/{recorded['gone']}/bounces", headers=admin).get_json() == {"data": []}
    assert client.delete(f"/api/bounces/{ids['full@example.jp']}", headers=admin).get_json() == {"data": True}
    assert emails(client.get("/api/bounces", headers=admin)) == ["angry@example.jp"]
    assert client.delete(f"/api/bounces?id={ids['angry@example.jp']}", headers=admin).get_json() == {"data": True}
    assert emails(client.get("/api/bounces", headers=admin)) == []
    # Suppressions the bounces caused stay.
    assert client.get("/api/suppressions", headers=admin).get_json()["data"]["total"] == 2


def test_delete_all(client: FlaskClient, admin: dict[str, str], recorded: dict[str, Any]) -> None:
    assert client.delete("/api/bounces?all=true", headers=admin).get_json() == {"data": True}
    assert emails(client.get("/api/bounces", headers=admin)) == []


def test_the_page_shows_filters_links_and_unread_mail_to_admins_only(
        app: Flask, client: FlaskClient, users: dict[str, str], recorded: dict[str, Any]) -> None:
    editor = app.test_client()
    login(editor, "editor")
    assert editor.get("/subscribers/bounces/").status_code == 403
    assert "/subscribers/bounces/" not in editor.get("/subscribers/").get_data(as_text=True)
    login(client, "admin")
    assert "/subscribers/bounces/" in client.get("/subscribers/").get_data(as_text=True)
    page = client.get("/subscribers/bounces/").get_data(as_text=True)
    assert "3 bounces" in page and "gone@example.jp" in page and "Mailbox full" in page
    assert f'/subscribers/{recorded["gone"]}"' in page and f'/campaigns/{recorded["first"]}"' in page
    filtered = client.get(f"/subscribers/bounces/?type=soft&campaign_id={recorded['second']}").get_data(as_text=True)
    assert "1 bounce" in filtered and "full@example.jp" in filtered and "gone@example.jp" not in filtered
    unknown = client.get("/subscribers/bounces/?type=bogus").get_data(as_text=True)
    assert "type must be one of: hard, soft, complaint." in unknown and "3 bounces" in unknown

    with app.app_context():
        unread_id = db.session.scalar(select(UnreadMail.id))
    assert "no headers: not an email message" in page
    raw = client.get(f"/subscribers/bounces/unread/{unread_id}.eml")
    assert raw.data == b"\xff\xfe not mail" and raw.mimetype == "message/rfc822"
    assert raw.headers["Content-Disposition"] == f'attachment; filename="unread-{unread_id}.eml"'
    submit(client, "/subscribers/bounces/", f"/subscribers/bounces/unread/{unread_id}/delete")
    assert client.get(f"/subscribers/bounces/unread/{unread_id}.eml").status_code == 404  # deleted
    with app.app_context():
        gone_id = db.session.scalar(select(Bounce.id).where(Bounce.email == "gone@example.jp"))
    response = submit(client, "/subscribers/bounces/", f"/subscribers/bounces/{gone_id}/delete")
    assert response.status_code == 302
    assert "2 bounces" in client.get("/subscribers/bounces/").get_data(as_text=True)
