"""The API base: listmonk's auth, envelopes and status codes; health; the OpenAPI document."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from app import create_app
from tests.helpers import api_user, basic, csrf_token, login

ROOT = Path(__file__).resolve().parents[2]


def test_health_answers_as_listmonk(client: FlaskClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200 and response.get_json() == {"data": True}


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


def test_a_token_works_whatever_cookie_the_client_holds(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app)}"}
    client.get("/login")  # a public page puts a CSRF token into the session cookie
    assert client.get("/api/lists", headers=headers).status_code == 200
    assert "Set-Cookie" not in client.get("/api/lists", headers=headers).headers  # token calls keep no session


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
    validate(spec)  # an OpenAPI 3.0 document to the letter (a YAML slip in a docstring makes a malformed one)
    documented = {path for path, operations in spec["paths"].items() if operations}
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(("/api/", "/webhooks/"))}
    assert routes == documented
    assert spec["paths"]["/api/lists"]["get"]["responses"]["200"]
    assert {"basicAuth", "tokenAuth"} <= set(spec["components"]["securitySchemes"])


def test_health_detail_reports_each_component(app: Flask, client: FlaskClient,
                                              settings_env: dict[str, str]) -> None:
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app)}"
    # No worker and no SMTP server yet: unhealthy, and each failing part says so.
    response = client.get("/api/health/detail")
    assert response.status_code == 503
    components = response.get_json()["data"]["components"]
    assert components["database"]["ok"] and components["redis"]["ok"]
    assert not components["workers"]["ok"] and not components["smtp"]["ok"]
    assert "Connection refused" in components["smtp"]["detail"] or "Error" in components["smtp"]["detail"]

    # A real worker process, as `make up` starts it, shows up as alive.
    env = {**os.environ, **settings_env, "KAIRAN_SECRET_KEY": app.config["SECRET_KEY"]}  # PostgreSQL's needs one
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60  # a worker starts in ~2 s; in ~20 s on a busy machine
        while not client.get("/api/health/detail").get_json()["data"]["components"]["workers"]["ok"]:
            assert time.monotonic() < deadline, "the worker never registered"
            time.sleep(0.2)
        assert client.get("/api/health/detail").get_json()["data"]["components"]["workers"]["detail"] == "1"
    finally:
        worker.terminate()
        worker.wait(20)
    # It unregisters on a clean stop.
    assert client.get("/api/health/detail").get_json()["data"]["components"]["workers"]["detail"] == "0"


def test_health_detail_shows_anonymous_callers_only_ok_flags(client: FlaskClient, users: dict[str, str]) -> None:
    anonymous = client.get("/api/health/detail").get_json()["data"]["components"]
    assert all(set(component) == {"ok"} for component in anonymous.values())
    login(client, "viewer")
    signed_in = client.get("/api/health/detail").get_json()["data"]["components"]
    assert signed_in["redis"]["detail"].startswith("unix://") and "elapsed_ms" in signed_in["database"]


def test_with_the_database_down_health_still_answers_and_names_it(settings_env: dict[str, str]) -> None:
    # Every request first compares the stored settings' version (core/stored_settings.py): a database that does
    # not answer must not turn that into a 500 for the very pages that report it.
    down = create_app({**settings_env, "TESTING": True, "KAIRAN_DATABASE_URL": "postgresql://kairan@127.0.0.1:1/x",
                       "KAIRAN_SECRET_KEY": "a-test-secret-of-some-length"})
    client = down.test_client()
    assert client.get("/api/health").get_json() == {"data": True}
    detail = client.get("/api/health/detail")
    assert detail.status_code == 503 and detail.get_json()["data"]["components"]["database"] == {"ok": False}
