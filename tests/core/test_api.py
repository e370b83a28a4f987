"""The API base: listmonk's auth, envelopes and status codes; health; the OpenAPI document."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from core.db import db
from core.users import create_api_user
from lists.models import MailingList
from tests.conftest import csrf_token, login

ROOT = Path(__file__).resolve().parents[2]


def api_user(app: Flask, role: str = "viewer", name: str = "shop") -> str:
    """Create an API user and return its ``name:token`` pair."""
    with app.app_context():
        user, token = create_api_user(name, role)
        return f"{user.username}:{token}"


def basic(pair: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def test_health_answers_as_listmonk(client: FlaskClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200 and response.get_json() == {"data": True}


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


def test_bad_or_missing_credentials_get_403_json(app: Flask, client: FlaskClient) -> None:
    user, _sep, token = api_user(app).partition(":")
    for headers in (
        {},
        {"Authorization": f"token {user}:wrong-token"},
        {"Authorization": f"token nobody:{token}"},
        basic(f"{user}:wrong"),
        {"Authorization": "Basic %%%not-base64"},
        {"Authorization": f"Bearer {token}"},
    ):
        response = client.get("/api/lists", headers=headers)
        assert response.status_code == 403, headers
        assert response.get_json() == {"message": "invalid API credentials"}


def test_a_password_user_cannot_use_the_api_with_its_password(app: Flask, client: FlaskClient,
                                                              users: dict[str, str]) -> None:
    response = client.get("/api/lists", headers=basic("admin:correct horse battery"))
    assert response.status_code == 403


def test_unknown_endpoint_is_404_json(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/nothing-here", headers={"Authorization": f"token {api_user(app)}"})
    assert response.status_code == 404 and response.get_json() == {"message": "Unknown endpoint."}


def test_api_errors_follow_the_callers_language(client: FlaskClient) -> None:
    response = client.get("/api/lists", headers={"Accept-Language": "ja"})
    assert response.status_code == 403
    assert response.get_json()["message"] != "invalid API credentials"


def test_signed_in_browser_may_read_but_not_change_through_the_api(client: FlaskClient,
                                                                   users: dict[str, str]) -> None:
    login(client, "viewer")
    assert client.get("/api/lists").status_code == 200
    token = csrf_token(client, "/")
    # The API takes no CSRF token, so a session (which another site could ride) may not write.
    response = client.post("/api/lists", json={"name": "x"}, headers={"X-CSRFToken": token})
    assert response.status_code == 403
    assert response.get_json() == {"message": "Changes through the API need an API token."}


def test_openapi_documents_every_api_route(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {path for path, operations in spec["paths"].items() if operations}
    routes = {rule.rule.replace("<", "{").replace(">", "}") for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/")}
    assert routes == documented
    assert spec["paths"]["/api/lists"]["get"]["responses"]["200"]
    assert {"basicAuth", "tokenAuth"} <= set(spec["components"]["securitySchemes"])


def test_health_detail_reports_each_component(app: Flask, client: FlaskClient,
                                              settings_env: dict[str, str]) -> None:
    # No worker and no SMTP server yet: unhealthy, and each failing part says so.
    response = client.get("/api/health/detail")
    assert response.status_code == 503
    components = response.get_json()["data"]["components"]
    assert components["database"]["ok"] and components["redis"]["ok"]
    assert not components["workers"]["ok"] and not components["smtp"]["ok"]
    assert "Connection refused" in components["smtp"]["detail"] or "Error" in components["smtp"]["detail"]

    # A real worker process, as `make up` starts it, shows up as alive.
    env = {**os.environ, **settings_env}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 20
        while not client.get("/api/health/detail").get_json()["data"]["components"]["workers"]["ok"]:
            assert time.monotonic() < deadline, "the worker never registered"
            time.sleep(0.2)
        assert client.get("/api/health/detail").get_json()["data"]["components"]["workers"]["detail"] == "1"
    finally:
        worker.terminate()
        worker.wait(20)
    # It unregisters on a clean stop.
    assert client.get("/api/health/detail").get_json()["data"]["components"]["workers"]["detail"] == "0"


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
    assert response.get_json() == {"message": "Send the list as a JSON object."}
    assert client.get("/api/lists", headers=editor).get_json()["data"]["total"] == 0  # nothing half-made
