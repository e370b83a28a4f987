"""The suppression list: addresses and domains, through the API and the page."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from lists.suppressions import is_suppressed
from tests.helpers import api_user, login, submit


def test_api_suppresses_addresses_and_domains(app: Flask, client: FlaskClient) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor')}"}
    address = client.post("/api/suppressions", json={"value": "Ｔａｒｏ＠Example.jp", "reason": "complaint"},
                          headers=editor).get_json()["data"]
    assert (address["value"], address["is_domain"], address["reason"]) == ("taro@example.jp", False, "complaint")
    domain = client.post("/api/suppressions", json={"value": "@Spam.Example"}, headers=editor).get_json()["data"]
    assert (domain["value"], domain["is_domain"], domain["reason"]) == ("spam.example", True, "manual")
    with app.app_context():
        assert is_suppressed("TARO@example.jp") and is_suppressed("anyone@spam.example")
        assert not is_suppressed("hanako@example.jp")
    page = client.get("/api/suppressions?search=spam", headers=editor).get_json()["data"]
    assert page["total"] == 1 and page["results"][0]["value"] == "spam.example"
    duplicate = client.post("/api/suppressions", json={"value": "taro@EXAMPLE.jp"}, headers=editor)
    assert duplicate.status_code == 409
    assert duplicate.get_json() == {"message": "taro@example.jp is suppressed already."}
    for value, message in (("not an address", "not an address is neither an email address nor a domain."),
                           ("a@b.jp\r\nBcc: x@y.jp", "An address may not contain line breaks or control characters.")):
        bad = client.post("/api/suppressions", json={"value": value}, headers=editor)
        assert bad.status_code == 400 and bad.get_json() == {"message": message}
    bad_reason = client.post("/api/suppressions", json={"value": "x@y.jp", "reason": "dislike"}, headers=editor)
    assert bad_reason.status_code == 400
    assert client.delete(f"/api/suppressions/{address['id']}", headers=editor).get_json() == {"data": True}
    with app.app_context():
        assert not is_suppressed("taro@example.jp")


def test_page_adds_and_lifts_and_viewers_only_read(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    submit(client, "/subscribers/suppressions/", value="example.org", reason="manual")
    page = client.get("/subscribers/suppressions/").get_data(as_text=True)
    assert 'data-value="example.org"' in page and "example.org will never be mailed." in page
    submit(client, "/subscribers/suppressions/", "/subscribers/suppressions/1/delete")
    assert "Nothing is suppressed." in client.get("/subscribers/suppressions/").get_data(as_text=True)
    client.post("/logout", data={})
    viewer = app.test_client()
    login(viewer, "viewer")
    assert viewer.get("/subscribers/suppressions/").status_code == 200
    assert submit(viewer, "/subscribers/suppressions/", value="x.jp").status_code == 403
