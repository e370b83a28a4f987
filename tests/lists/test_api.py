"""listmonk's /api/lists: paged envelope, search, creation, validation, permissions."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from core.db import db
from lists.models import MailingList
from tests.helpers import api_user, basic


def test_lists_in_listmonks_paged_envelope_with_either_auth(app: Flask, client: FlaskClient) -> None:
    pair = api_user(app)
    for headers in (basic(pair), {"Authorization": f"token {pair}"}):
        response = client.get("/api/lists", headers=headers)
        assert response.status_code == 200
        assert response.get_json() == {
            "data": {"results": [], "search": "", "query": "", "total": 0, "per_page": 20, "page": 1}
        }


def test_lists_paging_and_search(app: Flask, client: FlaskClient) -> None:
    pair = api_user(app)
    with app.app_context():
        db.session.add_all([MailingList(name=f"List {i:02d}", description="") for i in range(25)]
                           + [MailingList(name="お知らせ", description="月刊ニュース")])
        db.session.commit()
    headers = {"Authorization": f"token {pair}"}
    page2 = client.get("/api/lists?page=2&per_page=10", headers=headers).get_json()["data"]
    assert (page2["total"], page2["per_page"], page2["page"]) == (26, 10, 2)
    assert [r["name"] for r in page2["results"]] == [f"List {i:02d}" for i in range(10, 20)]
    everything = client.get("/api/lists?per_page=all", headers=headers).get_json()["data"]
    assert everything["per_page"] == 0 and len(everything["results"]) == 26
    found = client.get("/api/lists?query=ニュース", headers=headers).get_json()["data"]
    assert [r["name"] for r in found["results"]] == ["お知らせ"] and found["query"] == "ニュース"
    first = found["results"][0]
    assert {"id", "uuid", "name", "type", "optin", "status", "tags", "created_at", "updated_at"} <= set(first)


def test_bad_paging_is_a_400_with_a_message(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app)}"}
    response = client.get("/api/lists?page=zero", headers=headers)
    assert response.status_code == 400
    assert response.get_json() == {"message": "page must be a whole number of 1 or more."}


def test_creating_a_list_needs_a_role_that_may_write(app: Flask, client: FlaskClient) -> None:
    viewer = {"Authorization": f"token {api_user(app, 'viewer', 'reader')}"}
    editor = {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}
    body = {"name": "週刊ニュース", "type": "public", "optin": "double", "tags": ["weekly"]}
    refused = client.post("/api/lists", json=body, headers=viewer)
    assert refused.status_code == 403 and refused.get_json() == {"message": "You do not have permission to do this."}
    created = client.post("/api/lists", json=body, headers=editor)
    assert created.status_code == 200
    data = created.get_json()["data"]
    assert (data["name"], data["type"], data["optin"], data["tags"]) == ("週刊ニュース", "public", "double", ["weekly"])
    assert client.get("/api/lists", headers=viewer).get_json()["data"]["total"] == 1


def test_invalid_lists_are_refused_with_the_field_named(app: Flask, client: FlaskClient) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor')}"}
    cases = [
        ({"name": ""}, "A list needs a name of 1 to 200 characters."),
        ({"name": "x", "type": "secret"}, "type must be one of: public, private."),
        ({"name": "x", "optin": "triple"}, "optin must be one of: single, double."),
        ({"name": "x", "tags": "a,b"}, "tags must be a list of strings."),
    ]
    for body, message in cases:
        response = client.post("/api/lists", json=body, headers=editor)
        assert response.status_code == 400 and response.get_json() == {"message": message}, body
    response = client.post("/api/lists", data="name=x", headers=editor)
    assert response.get_json() == {"message": "Send a JSON object in the request body."}
    assert client.get("/api/lists", headers=editor).get_json()["data"]["total"] == 0  # nothing half-made



def test_timestamps_carry_their_timezone(app: Flask, client: FlaskClient) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor')}"}
    created = client.post("/api/lists", json={"name": "tz"}, headers=editor).get_json()["data"]
    # RFC 3339 with an offset, as listmonk sends them, on SQLite as on PostgreSQL.
    assert created["created_at"].endswith("+00:00")
