"""listmonk's opt-in confirmation, POST /subscription/optin/{uuid}, sent by an API client with its credentials."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.db import db
from core.tokens import Purpose, make_token
from lists.models import ConsentMethod, ConsentRecord
from tests.helpers import api_user, basic, statuses


@pytest.fixture
def pending(client: FlaskClient, app: Flask) -> tuple[dict[str, str], str, dict[str, str]]:
    """An editor's credentials, a subscriber's uuid, and list name → uuid of two double opt-in lists it awaits."""
    editor = {"Authorization": f"token {api_user(app, 'editor', 'crm')}"}
    lists = {name: client.post("/api/lists", json={"name": name, "optin": "double"}, headers=editor)
             .get_json()["data"] for name in ("VIP", "週刊")}
    made = client.post("/api/subscribers", headers=editor, json={
        "email": "hanako@example.jp", "name": "花子", "lists": [m["id"] for m in lists.values()]}).get_json()["data"]
    return editor, made["uuid"], {name: m["uuid"] for name, m in lists.items()}


def test_an_api_user_confirms_an_optin_as_listmonk_clients_do(
        app: Flask, client: FlaskClient, pending: tuple[dict[str, str], str, dict[str, str]]) -> None:
    editor, uuid, lists = pending
    assert statuses(app, "hanako@example.jp") == {"VIP": "unconfirmed", "週刊": "unconfirmed"}
    # Before: no token and no CSRF token, so 400 ("The form has expired…") and nothing confirmed.
    response = client.post(f"/subscription/optin/{uuid}", headers=editor, data={"l": lists["VIP"], "confirm": "true"})
    assert response.status_code == 200 and "Subscription confirmed" in response.get_data(as_text=True)
    assert statuses(app, "hanako@example.jp") == {"VIP": "confirmed", "週刊": "unconfirmed"}
    with app.app_context():
        record = db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id.desc())).first()
        assert record is not None and (record.method, record.evidence) == (ConsentMethod.API, "API user crm")
    # HTTP Basic with the same pair works too; no l confirms every list still pending.
    pair = editor["Authorization"].removeprefix("token ")
    assert client.post(f"/subscription/optin/{uuid}", headers=basic(pair), data={"confirm": "true"}).status_code == 200
    assert statuses(app, "hanako@example.jp") == {"VIP": "confirmed", "週刊": "confirmed"}


@pytest.mark.parametrize(("who", "form", "status", "message"), [
    ("nobody", {"confirm": "true"}, 403, "invalid API credentials"),
    ("viewer", {"confirm": "true"}, 403, "You do not have permission to do this."),
    ("editor", {}, 400, "Send confirm=true to confirm the subscription."),
])
def test_without_rights_or_confirm_true_nothing_changes(
        app: Flask, client: FlaskClient, pending: tuple[dict[str, str], str, dict[str, str]], who: str,
        form: dict[str, str], status: int, message: str) -> None:
    editor, uuid, _lists = pending
    headers = {"viewer": {"Authorization": f"token {api_user(app, 'viewer', 'reader')}"},
               "nobody": {"Authorization": "token crm:wrong"}}.get(who, editor)
    response = client.post(f"/subscription/optin/{uuid}", headers=headers, data=form)
    assert response.status_code == status and response.get_json() == {"message": message}
    assert statuses(app, "hanako@example.jp") == {"VIP": "unconfirmed", "週刊": "unconfirmed"}
    unknown = client.post("/subscription/optin/no-such-uuid", headers=editor, data={"confirm": "true"})
    assert unknown.status_code == 400 and unknown.get_json() == {"message": "Subscriber not found."}


def test_a_readers_post_needs_its_signed_token_and_csrf_token(
        app: Flask, client: FlaskClient, pending: tuple[dict[str, str], str, dict[str, str]]) -> None:
    _editor, uuid, lists = pending
    no_token = client.post(f"/subscription/optin/{uuid}", data={"l": lists["VIP"], "confirm": "true"})
    assert no_token.status_code == 404  # no signed token from the confirmation mail: the link is not valid
    with app.test_request_context():
        token = make_token(Purpose.OPTIN, uuid)
    no_csrf = client.post(f"/subscription/optin/{uuid}", data={"t": token, "l": lists["VIP"], "confirm": "true"})
    assert no_csrf.status_code == 200 and "Subscription confirmed" not in no_csrf.get_data(as_text=True)
    assert statuses(app, "hanako@example.jp") == {"VIP": "unconfirmed", "週刊": "unconfirmed"}
