"""Two-factor login through the real routes: enrolment, the code after the password, recovery codes,
replays, the admin requirement, and API tokens that never meet any of it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from app import create_app
from core.users import create_api_user
from tests.helpers import PASSWORD, Clock, csrf_token, login, submit

_SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
_RECOVERY = re.compile(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>")


def enrol(client: FlaskClient, clock: Clock) -> tuple[str, list[str]]:
    """Enrol the signed-in user as a person would: read the key beside the QR code, type the app's code."""
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page  # the QR code, inline
    secret = _SECRET.search(page).group(1)  # type: ignore[union-attr]
    response = submit(client, "/account/two-factor", code=pyotp.TOTP(secret).at(clock.now()))
    assert response.status_code == 200
    codes = _RECOVERY.findall(response.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def enrolled(client: FlaskClient, clock: Clock, username: str) -> tuple[str, list[str]]:
    """Log in, enrol, log out: the user now logs in with a code."""
    login(client, username)
    secret, codes = enrol(client, clock)
    submit(client, "/", "/logout")
    return secret, codes


def code_now(secret: str, clock: Clock) -> str:
    return str(pyotp.TOTP(secret).at(clock.now()))


def log_in_with_code(client: FlaskClient, username: str, code: str) -> object:
    """Password first (answered with the code step), then the code."""
    response = login(client, username)
    assert response.status_code == 302 and response.headers["Location"] == "/login/code"
    return submit(client, "/login/code", code=code)


def test_enrolment_needs_a_right_code_then_login_asks_for_one(app: Flask, users: dict[str, str],
                                                              clock: Clock) -> None:
    browser, other_browser = app.test_client(), app.test_client()
    login(browser, "editor")
    login(other_browser, "editor")
    wrong = submit(browser, "/account/two-factor", code="000000")
    assert wrong.status_code == 400 and "The code does not match." in wrong.get_data(as_text=True)
    secret, _codes = enrol(browser, clock)
    assert other_browser.get("/").status_code == 302  # a session opened with the password alone ends
    assert "Recovery codes left: 10." in browser.get("/account/").get_data(as_text=True)
    submit(browser, "/", "/logout")

    response = login(browser, "editor")
    assert response.headers["Location"] == "/login/code"
    assert browser.get("/").status_code == 302  # the password alone signs no one in
    refused = submit(browser, "/login/code", code="123456")
    assert refused.status_code == 401 and "The code is wrong or was already used." in refused.get_data(as_text=True)
    clock.advance(30)  # the enrolment's code was taken: the next one
    accepted = submit(browser, "/login/code", code=code_now(secret, clock))
    assert accepted.status_code == 302 and accepted.headers["Location"] == "/"
    assert browser.get("/").status_code == 200


def test_a_code_is_taken_once_and_a_late_one_is_refused(app: Flask, client: FlaskClient, users: dict[str, str],
                                                        clock: Clock) -> None:
    secret, _codes = enrolled(client, clock, "viewer")
    clock.advance(30)
    code = code_now(secret, clock)
    assert log_in_with_code(client, "viewer", code).status_code == 302  # type: ignore[attr-defined]
    submit(client, "/", "/logout")
    assert log_in_with_code(client, "viewer", code).status_code == 401  # type: ignore[attr-defined]
    stale = code_now(secret, clock)
    clock.advance(120)  # four steps on: a code from two minutes ago
    assert submit(client, "/login/code", code=stale).status_code == 401
    assert submit(client, "/login/code", code=code_now(secret, clock)).status_code == 302


def test_a_recovery_code_logs_in_once(app: Flask, client: FlaskClient, users: dict[str, str], clock: Clock) -> None:
    _secret, codes = enrolled(client, clock, "editor")
    response = log_in_with_code(client, "editor", codes[0])
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert "Recovery codes left: 9." in client.get("/").get_data(as_text=True)
    submit(client, "/", "/logout")
    assert log_in_with_code(client, "editor", codes[0]).status_code == 401  # type: ignore[attr-defined]
    # Typed as people type them: upper case, spaces for dashes.
    assert submit(client, "/login/code", code=codes[1].upper().replace("-", " ")).status_code == 302


def test_the_code_step_runs_out(app: Flask, client: FlaskClient, users: dict[str, str], clock: Clock) -> None:
    secret, _codes = enrolled(client, clock, "editor")
    login(client, "editor")
    token = csrf_token(client, "/login/code")
    clock.advance(6 * 60)
    response = client.post("/login/code", data={"csrf_token": token, "code": code_now(secret, clock)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "the time to enter the code ran out" in client.get("/login").get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_wrong_codes_are_rate_limited_like_passwords(app: Flask, client: FlaskClient, users: dict[str, str],
                                                     clock: Clock) -> None:
    secret, _codes = enrolled(client, clock, "editor")
    login(client, "editor")
    for _ in range(10):
        assert submit(client, "/login/code", code="999999").status_code == 401
    clock.advance(30)
    limited = submit(client, "/login/code", code=code_now(secret, clock))  # even the right code waits
    assert limited.status_code == 429


def test_turning_it_off_takes_the_password_and_a_code(app: Flask, client: FlaskClient, users: dict[str, str],
                                                      clock: Clock) -> None:
    login(client, "editor")
    secret, _codes = enrol(client, clock)
    clock.advance(30)
    wrong_password = submit(client, "/account/", "/account/two-factor/off",
                            **{"off-password": "not mine at all", "off-code": code_now(secret, clock)})
    assert wrong_password.status_code == 400 and "The password is wrong." in wrong_password.get_data(as_text=True)
    wrong_code = submit(client, "/account/", "/account/two-factor/off",
                        **{"off-password": PASSWORD, "off-code": "111111"})
    assert wrong_code.status_code == 400 and "The code is wrong" in wrong_code.get_data(as_text=True)
    done = submit(client, "/account/", "/account/two-factor/off",
                  **{"off-password": PASSWORD, "off-code": code_now(secret, clock)})
    assert done.status_code == 302
    submit(client, "/", "/logout")
    assert login(client, "editor").headers["Location"] == "/"  # the password alone again


def test_an_admin_turns_off_a_users_two_factor_login(app: Flask, users: dict[str, str], clock: Clock) -> None:
    admin, editor = app.test_client(), app.test_client()
    login(editor, "editor")
    enrol(editor, clock)
    login(admin, "admin")
    page = admin.get("/users/").get_data(as_text=True)
    editor_row = page.split('data-user="editor"', 1)[1].split("</tr>", 1)[0]
    assert "<td>on</td>" in editor_row  # the list says who has it
    editor_id = editor_row.split("/users/", 1)[1].split('"', 1)[0]
    assert "Two-factor login is on." in admin.get(f"/users/{editor_id}").get_data(as_text=True)
    submit(admin, f"/users/{editor_id}", f"/users/{editor_id}/two-factor/off")
    assert login(app.test_client(), "editor").headers["Location"] == "/"


def test_the_cli_turns_it_off_for_a_locked_out_admin(app: Flask, client: FlaskClient, users: dict[str, str],
                                                     clock: Clock) -> None:
    enrolled(client, clock, "admin")
    result = app.test_cli_runner().invoke(args=["users", "two-factor-off", "Admin"])
    assert result.exit_code == 0 and "Two-factor login of admin is off." in result.output
    assert login(client, "admin").headers["Location"] == "/"
    unknown = app.test_cli_runner().invoke(args=["users", "two-factor-off", "nobody"])
    assert unknown.exit_code == 1 and "No person is called 'nobody'." in unknown.output


@pytest.fixture
def strict_app(app: Flask, settings_env: dict[str, str]) -> Iterator[Flask]:
    """The same installation, started with KAIRAN_REQUIRE_2FA_ADMINS=on."""
    strict = create_app({**settings_env, "KAIRAN_REQUIRE_2FA_ADMINS": "on", "TESTING": True})
    with strict.app_context():
        upgrade()
    yield strict


def test_admins_are_sent_to_enrol_when_it_is_required(strict_app: Flask, users: dict[str, str],
                                                      clock: Clock) -> None:
    admin, editor = strict_app.test_client(), strict_app.test_client()
    assert login(admin, "admin").status_code == 302
    for page in ("/", "/users/", "/settings", "/account/"):
        response = admin.get(page)
        assert response.status_code == 302 and response.headers["Location"] == "/account/two-factor", page
    page = admin.get("/account/two-factor").get_data(as_text=True)
    assert "Admins must use two-factor login here." in page
    assert admin.get("/api/lists").status_code == 403  # nor through the API with the session
    assert admin.get("/subscription/form").status_code == 200  # public pages stay as they are
    login(editor, "editor")
    assert editor.get("/").status_code == 200  # only admins are required to
    secret, _codes = enrol(admin, clock)
    assert admin.get("/users/").status_code == 200
    clock.advance(30)
    refused = submit(admin, "/account/", "/account/two-factor/off",
                     **{"off-password": PASSWORD, "off-code": code_now(secret, clock)})
    assert refused.status_code == 302
    assert "Admins must use two-factor login here" in admin.get("/account/").get_data(as_text=True)


def test_api_tokens_are_unaffected(strict_app: Flask, users: dict[str, str]) -> None:
    with strict_app.app_context():
        api_user, token = create_api_user("shop", "admin")
        name = api_user.username
    client = strict_app.test_client()
    response = client.get("/api/lists", headers={"Authorization": f"token {name}:{token}"})
    assert response.status_code == 200
    created = client.post("/api/lists", json={"name": "会員", "type": "private", "optin": "single"},
                          headers={"Authorization": f"token {name}:{token}"})
    assert created.status_code == 200


