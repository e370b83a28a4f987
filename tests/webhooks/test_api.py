"""/api/webhooks: endpoints added, read, changed and deleted (and audited); their secret only when asked for; a test
event and the log; bad input refused with its reason in the caller's language; admins only."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from core.audit import MASK
from tests.helpers import api_user, audit_entries, error_summary, login, run_jobs, submit
from tests.webhooks.receiver import Receiver


def test_endpoints_through_the_api(app: Flask, client: FlaskClient, receiver: Receiver) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    added = client.post("/api/webhooks", headers=admin, json={
        "url": f" {receiver.url} ", "event_types": ["message.clicked", "subscriber.created"],
        "description": "ネットショップ", "batch_high_volume": True}).get_json()["data"]
    assert added["url"] == receiver.url and added["enabled"] and added["batch_high_volume"]
    assert added["event_types"] == ["subscriber.created", "message.clicked"]  # in the catalogue's order
    secret = added["secret"]
    endpoint = f"/api/webhooks/{added['id']}"
    assert "secret" not in client.get(endpoint, headers=admin).get_json()["data"]
    assert all("secret" not in e for e in client.get("/api/webhooks", headers=admin).get_json()["data"])
    assert client.get(f"{endpoint}/secret", headers=admin).get_json() == {"data": {"secret": secret}}
    rotated = client.post(f"{endpoint}/secret", headers=admin).get_json()["data"]["secret"]
    assert rotated.startswith("whsec_") and rotated != secret

    changed = client.put(endpoint, headers=admin, json={"enabled": False}).get_json()["data"]
    assert not changed["enabled"] and changed["url"] == receiver.url  # the fields left out keep their values
    client.put(endpoint, headers=admin, json={"enabled": True})
    receiver.secret = rotated
    assert client.post(f"{endpoint}/test", headers=admin).get_json() == {"data": True}
    run_jobs(app)
    assert [e["type"] for e in receiver.events()] == ["webhook.test"]  # signed with the new secret
    log = client.get(f"{endpoint}/attempts", headers=admin).get_json()["data"]
    assert len(log) == 1 and log[0]["status"] == 200 and log[0]["request_headers"]["webhook-signature"]
    assert client.get(f"{endpoint}/attempts?before={log[0]['id']}", headers=admin).get_json() == {"data": []}
    types = client.get("/api/webhooks/event-types", headers={**admin, "Accept-Language": "ja"}).get_json()["data"]
    assert {"type": "message.opened", "label": "メールの開封", "batchable": True} in types

    assert client.delete(endpoint, headers=admin).get_json() == {"data": True}
    assert client.get(endpoint, headers=admin).status_code == 400  # listmonk's answer for an unknown id
    # The audit log: who added, changed and deleted it, the secret never in clear
    recorded = audit_entries(app, "webhook")
    assert [entry.action for entry in recorded] == ["webhook.created"] + ["webhook.changed"] * 3 + ["webhook.deleted"]
    assert {entry.actor for entry in recorded} == {"boss"} and recorded[0].target == receiver.url
    assert recorded[1].after == {"secret": MASK} and recorded[2].before == {"enabled": True}
    assert secret not in str([(entry.before, entry.after) for entry in recorded])


def test_bad_input_is_refused_with_its_reason(app: Flask, client: FlaskClient) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    good = {"url": "https://shop.example.jp/hooks", "event_types": ["subscriber.created"]}
    for body, message in (
            ({**good, "url": ""}, "Enter the URL to send the events to."),
            ({**good, "url": 7}, "Enter the URL to send the events to."),
            ({**good, "url": "ftp://shop.example.jp/"}, "The URL must start with http:// or https://."),
            ({**good, "url": "https:///hooks"}, "The URL needs a host name, such as https://shop.example.jp/hooks."),
            ({**good, "url": "https://shop.example.jp:99999/"}, "This is not a valid URL."),
            ({**good, "url": "https://user:pw@shop.example.jp/"},
             "Put no user name or password in the URL: the signature proves who sends."),
            ({**good, "url": "https://shop.example.jp/#top"}, "A URL with a # part cannot be posted to."),
            ({**good, "url": "https://shop.example.jp/" + "a" * 2000}, "A URL has at most 2000 characters."),
            ({**good, "event_types": []}, "Choose at least one event type."),
            ({**good, "event_types": "subscriber.created"}, "event_types must be a list of event type names."),
            ({**good, "event_types": ["message.read"]}, "Unknown event type: message.read."),
            ({**good, "description": "x" * 201}, "A description has at most 200 characters."),
            ({**good, "enabled": "yes"}, "enabled must be true or false.")):
        answer = client.post("/api/webhooks", headers=admin, json=body)
        assert (answer.status_code, answer.get_json()) == (400, {"message": message}), body
    answer = client.post("/api/webhooks", headers={**admin, "Accept-Language": "ja"}, json={**good, "url": "ftp://x"})
    assert answer.get_json() == {"message": "URL は http:// または https:// で始めてください。"}
    assert client.get("/api/webhooks", headers=admin).get_json() == {"data": []}  # nothing was added
    assert client.post("/api/webhooks/99/test", headers=admin).get_json() == {
        "message": "No webhook endpoint has the id 99."}
    made = client.post("/api/webhooks", headers=admin, json=good).get_json()["data"]
    assert client.post(f"/api/webhooks/{made['id']}/attempts/5/replay", headers=admin).get_json() == {
        "message": "This endpoint's log has no request 5."}
    assert client.get(f"/api/webhooks/{made['id']}/attempts?limit=0", headers=admin).status_code == 400


def test_only_admins(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor', 'crm')}"}
    assert client.get("/api/webhooks", headers=editor).status_code == 403
    assert client.post("/api/webhooks", headers=editor, json={}).status_code == 403
    login(client, "editor")
    assert client.get("/settings/webhooks/").status_code == 403


def test_the_form_keeps_what_was_typed_under_its_refusal(app: Flask, client: FlaskClient,
                                                         users: dict[str, str]) -> None:
    login(client, "admin")
    page = submit(client, "/settings/webhooks/new", url="http://", event_types=["subscriber.created"],
                  enabled="y")
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "The URL needs a host name" in html and 'value="subscriber.created" checked' in html
    empty = submit(client, "/settings/webhooks/new", url="https://shop.example.jp/hooks")
    assert "Choose at least one event type." in empty.get_data(as_text=True)
    added = submit(client, "/settings/webhooks/new", url="https://shop.example.jp/hooks",
                   event_types=["message.opened"], enabled="y")
    assert added.status_code == 302 and "show=secret" in added.headers["Location"]
    assert "whsec_" in client.get(added.headers["Location"]).get_data(as_text=True)
    assert "whsec_" not in client.get(added.headers["Location"].split("?")[0]).get_data(as_text=True)


def test_the_form_names_every_refused_field_at_once_in_a_summary_at_the_top(
        app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "admin")
    page = submit(client, "/settings/webhooks/new", url="ftp://shop.example.jp/", description="x" * 201, enabled="y")
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    # One summary above the form names every refused field, in the page's order, and links to it.
    assert error_summary(html)[1] == [
        ("url", "URL: The URL must start with http:// or https://."),
        ("description", "Description: A description has at most 200 characters."),
        ("event_types", "Events to send: Choose at least one event type.")]
    assert 'id="event_types"' in html  # the first checkbox, where the summary's link puts the focus
    assert html.count('<p class="error">') == 3  # and each under its own field
    # The API still answers one message, the first.
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    answer = client.post("/api/webhooks", headers=admin, json={"url": "", "event_types": [], "description": 5})
    assert answer.get_json() == {"message": "Enter the URL to send the events to."}
