"""Sessions end at logout and when the password changes, though Flask keeps them in a signed cookie."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, login, submit

NEW_PASSWORD = "a brand new passphrase"


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> FlaskClient:
    """A second browser that presents this session cookie (a copied or stolen one)."""
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def test_an_old_session_cookie_no_longer_works_after_logout(app: Flask, client: FlaskClient,
                                                             users: dict[str, str]) -> None:
    login(client, "editor")
    kept = _session_cookie(client)
    assert _with_cookie(app, kept).get("/").status_code == 200
    submit(client, "/", "/logout")
    replayed = _with_cookie(app, kept).get("/")
    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]


def test_changing_the_password_ends_the_other_sessions_but_not_this_one(app: Flask, users: dict[str, str]) -> None:
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "viewer")
    login(phone, "viewer")
    response = submit(laptop, "/account/", "/account/password", **{
        "pw-current": PASSWORD, "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD})
    assert response.status_code == 302
    # The session that changed it goes on.
    assert "Your other sessions have ended." in laptop.get("/account/").get_data(as_text=True)
    assert laptop.get("/").status_code == 200
    assert phone.get("/").status_code == 302  # the other one is sent to log in
    submit(laptop, "/", "/logout")
    assert login(laptop, "viewer").status_code == 401
    assert login(laptop, "viewer", NEW_PASSWORD).status_code == 302


def test_a_wrong_current_password_changes_nothing(app: Flask, users: dict[str, str]) -> None:
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "editor")
    login(phone, "editor")
    response = submit(laptop, "/account/", "/account/password", **{
        "pw-current": "not my password", "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD})
    assert response.status_code == 400 and "The current password is wrong." in response.get_data(as_text=True)
    assert phone.get("/").status_code == 200
    submit(laptop, "/", "/logout")
    assert login(laptop, "editor").status_code == 302


def test_an_admin_setting_a_password_ends_that_users_sessions(app: Flask, users: dict[str, str]) -> None:
    admin, editor = app.test_client(), app.test_client()
    login(admin, "admin")
    login(editor, "editor")
    page = admin.get("/users/").get_data(as_text=True)
    editor_id = page.split('data-user="editor"', 1)[1].split("/users/", 1)[1].split('"', 1)[0]
    response = submit(admin, f"/users/{editor_id}", role="editor", enabled="y", password=NEW_PASSWORD)
    assert response.status_code == 302
    assert editor.get("/").status_code == 302
    assert admin.get("/").status_code == 200


def test_an_admin_changing_their_own_password_on_the_users_page_stays_logged_in(app: Flask, client: FlaskClient,
                                                                                 users: dict[str, str]) -> None:
    login(client, "admin")
    page = client.get("/users/").get_data(as_text=True)
    admin_id = page.split('data-user="admin"', 1)[1].split("/users/", 1)[1].split('"', 1)[0]
    assert submit(client, f"/users/{admin_id}", role="admin", enabled="y", password=NEW_PASSWORD).status_code == 302
    assert client.get("/").status_code == 200
