"""Login, first-run setup, rate limits, CSRF, sessions and the roles on every route."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.auth import PUBLIC, ROLE_PERMISSIONS, Permission, Role
from core.db import db
from core.models import User
from core.users import create_user, ensure_first_admin, update_user
from tests.helpers import PASSWORD, csrf_token, login, submit


def test_first_visit_without_admin_shows_setup_once(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/setup")
    response = submit(client, "/setup", username="Founder", password=PASSWORD, confirm=PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200  # signed in as the new admin
    assert client.get("/setup").status_code == 404  # one-time only


def test_setup_refuses_mismatched_or_short_passwords(client: FlaskClient) -> None:
    response = submit(client, "/setup", username="founder", password=PASSWORD, confirm="something else!")
    assert "The passwords differ." in response.get_data(as_text=True)
    response = submit(client, "/setup", username="founder", password="short", confirm="short")
    assert "A password needs at least 10 characters." in response.get_data(as_text=True)
    page = client.get("/setup")
    assert page.status_code == 200  # still no admin
    # The minimum is said before the first try, and password managers offer a new password.
    assert "Password (at least 10 characters)" in page.get_data(as_text=True)
    assert page.get_data(as_text=True).count('autocomplete="new-password"') == 2


def test_admin_from_environment_is_created_only_once(ctx: None) -> None:
    assert ensure_first_admin("Boss", PASSWORD) is not None
    assert ensure_first_admin("Other", PASSWORD) is None


def test_login_then_logout(client: FlaskClient, users: dict[str, str]) -> None:
    response = login(client, "Editor")  # usernames are case-insensitive
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    submit(client, "/", "/logout")
    assert client.get("/").status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(client: FlaskClient, users: dict[str, str]) -> None:
    wrong_password = login(client, "editor", "not the password")
    unknown_user = login(client, "nobody", "not the password")
    assert wrong_password.status_code == unknown_user.status_code == 401
    message = "The username or password is wrong."
    assert message in wrong_password.get_data(as_text=True)
    assert message in unknown_user.get_data(as_text=True)


def test_disabled_user_cannot_log_in(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    with app.app_context():
        editor = db.session.scalar(select(User).where(User.username == "editor"))
        assert editor is not None
        update_user(editor, role="editor", enabled=False)
    assert login(client, "editor").status_code == 401


def test_failed_logins_are_rate_limited_per_address(client: FlaskClient, users: dict[str, str]) -> None:
    for _ in range(10):
        assert login(client, "admin", "guess").status_code == 401
    response = login(client, "admin", PASSWORD)  # even the right password waits now
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_successful_logins_do_not_count_towards_the_limit(client: FlaskClient, users: dict[str, str]) -> None:
    for _ in range(12):
        assert login(client, "viewer").status_code == 302
        submit(client, "/", "/logout")


def test_form_without_csrf_token_is_refused(client: FlaskClient, users: dict[str, str]) -> None:
    response = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 400
    assert "did not come from Kairan" in response.get_data(as_text=True)
    response = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400


def test_session_cookie_is_http_only_and_same_site(client: FlaskClient, users: dict[str, str]) -> None:
    response = login(client, "admin")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_never_redirects_off_site(client: FlaskClient, users: dict[str, str]) -> None:
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"csrf_token": token, "username": "admin", "password": PASSWORD,
                                           "next": "//evil.example/phish"})
    assert response.headers["Location"] == "/"


def test_every_route_declares_who_may_use_it(app: Flask) -> None:
    """A new view without @require or @public fails here, so no page is open by accident."""
    undeclared = [
        rule.rule for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not hasattr(app.view_functions[rule.endpoint], "kairan_permission")
    ]
    assert undeclared == []


def test_public_routes_are_only_the_intended_ones(app: Flask) -> None:
    public = sorted(
        rule.rule for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "kairan_permission", None) == PUBLIC
    )
    # /o/<token>.gif is answered in front of Flask (tracking/views.py), so it has no Flask route.
    assert public == ["/api/health", "/api/health/detail", "/api/openapi.json", "/api/public/lists",
                      "/api/public/subscription", "/archive", "/archive/<campaign_uuid>", "/c/<token>", "/language",
                      "/login", "/login/code",
                      "/logout", "/media/<uuid>.<ext>", "/p/<token>", "/setup", "/subscription/form",
                      "/subscription/optin/<subscriber_uuid>",
                      "/survey/<question>/<answer>",  # a reader's answer: the signed delivery in its query says whose
                      "/u/<token>", "/vendor/<path:name>",
                      # each proves its sender itself: a signature, a password (tracking/webhooks.py)
                      "/webhooks/service/mailgun", "/webhooks/service/postmark", "/webhooks/service/sendgrid",
                      "/webhooks/service/ses"]


def test_roles_grant_what_the_issue_says() -> None:
    viewer, editor, admin = (ROLE_PERMISSIONS[r] for r in (Role.VIEWER, Role.EDITOR, Role.ADMIN))
    assert Permission.STATS_READ in viewer and not any(p.value.endswith((":write", ":send", ":manage")) for p in viewer)
    assert {Permission.SUBSCRIBERS_WRITE, Permission.CAMPAIGNS_SEND, Permission.TEMPLATES_WRITE} <= editor
    assert Permission.USERS_MANAGE not in editor and Permission.SETTINGS_MANAGE not in editor
    assert Permission.CONSENT_EXPORT in admin and Permission.CONSENT_EXPORT not in editor  # IPs, browsers
    assert admin == frozenset(Permission)


@pytest.mark.parametrize(
    ("role", "allowed", "forbidden"),
    [
        ("viewer", ["/", "/lists/", "/subscribers/", "/campaigns/", "/templates/", "/outbox/"],
         ["/users/", "/settings"]),
        ("editor", ["/", "/lists/", "/subscribers/", "/campaigns/", "/templates/", "/outbox/"],
         ["/users/", "/settings"]),
        ("admin", ["/", "/lists/", "/subscribers/", "/campaigns/", "/templates/", "/outbox/", "/users/",
                   "/settings"], []),
    ],
)
def test_pages_each_role_may_open(client: FlaskClient, users: dict[str, str], role: str, allowed: list[str],
                                  forbidden: list[str]) -> None:
    login(client, role)
    for page in allowed:
        assert client.get(page).status_code == 200, page
    for page in forbidden:
        assert client.get(page).status_code == 403, page


def test_viewer_cannot_send_test_mail_or_manage_users(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "viewer")
    token = csrf_token(client, "/")  # the logout form carries a valid token
    assert client.post("/outbox/test", data={"csrf_token": token, "to": "a@example.com"}).status_code == 403
    assert client.post("/users/", data={"csrf_token": token, "username": "x", "password": PASSWORD,
                                        "role": "admin"}).status_code == 403


def test_the_last_admin_cannot_be_demoted_or_deleted(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        admin_id = create_user("only", PASSWORD, "admin").id
    login(client, "only")
    response = submit(client, f"/users/{admin_id}", role="viewer", enabled="y")
    assert "at least one enabled admin" in response.get_data(as_text=True)
    submit(client, f"/users/{admin_id}", f"/users/{admin_id}/delete")
    assert client.get("/users/").status_code == 200  # still an admin


def test_admin_adds_a_user_who_can_then_log_in(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "admin")
    response = submit(client, "/users/", **{"user-username": "Hanako", "user-password": PASSWORD,
                                            "user-role": "editor", "user-language": "ja"})
    assert response.status_code == 302
    duplicate = submit(client, "/users/", **{"user-username": "hanako", "user-password": PASSWORD,
                                             "user-role": "viewer", "user-language": ""})
    assert duplicate.status_code == 400 and "is taken" in duplicate.get_data(as_text=True)
    submit(client, "/", "/logout")
    assert login(client, "hanako").status_code == 302
    assert "ダッシュボード" in client.get("/").get_data(as_text=True)  # her language, not the browser's


def test_settings_page_hides_passwords_and_the_secret_key(app: Flask, client: FlaskClient,
                                                          users: dict[str, str]) -> None:
    from core.urls import hide_password

    assert hide_password("smtp+starttls://mailer:s3cret@mail.example.com:587") == (
        "smtp+starttls://mailer:***@mail.example.com:587")
    login(client, "admin")
    page = client.get("/settings").get_data(as_text=True)
    assert app.config["KAIRAN"].secret_key not in page and "KAIRAN_DATABASE_URL" in page


def test_missing_things_are_404_pages_but_400_in_listmonks_api(app: Flask, client: FlaskClient,
                                                               users: dict[str, str]) -> None:
    login(client, "admin")
    page = client.get("/users/999")
    assert page.status_code == 404 and "No such user." in page.get_data(as_text=True)
    assert client.get("/subscribers/999").status_code == 404


def test_a_new_api_user_reads_only_unless_chosen_and_the_page_says_who_needs_editor(
        client: FlaskClient, users: dict[str, str]) -> None:
    """Least power by default; a shop's integration writes (events, subscribers), and the page says what that needs."""
    login(client, "admin")
    html = client.get("/users/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    api_form = html[html.index('name="token-role"'):]
    api_form = api_form[:api_form.index("</select>")]
    assert '<option selected value="viewer">' in api_form
    assert "Editor: lists, subscribers, customer events, templates, campaigns and automations" in api_form
    assert "a shop that sends customer events or subscribers needs Editor" in html
