"""Japanese and English: chosen from Accept-Language, switchable, and complete."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from tests.conftest import csrf_token, login

CATALOG = Path(__file__).resolve().parents[2] / "core/translations/ja/LC_MESSAGES/messages.po"


def test_every_string_has_a_japanese_translation() -> None:
    with CATALOG.open("rb") as fh:
        catalog = read_po(fh)
    missing = [m.id for m in catalog if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert missing == [] and fuzzy == []


def test_login_page_follows_accept_language(client: FlaskClient, users: dict[str, str]) -> None:
    japanese = client.get("/login", headers={"Accept-Language": "ja,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="ja">' in japanese and "ログイン" in japanese and "パスワード" in japanese
    assert "Log in" not in japanese and "Password" not in japanese  # no mixed-language page
    english = client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert '<html lang="en">' in english and "Log in" in english and "ログイン" not in english


def test_wrong_password_message_in_japanese(client: FlaskClient, users: dict[str, str]) -> None:
    response = login(client, "admin", "wrong password", **{"Accept-Language": "ja"})
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "The username or password is wrong." not in text and "パスワード" in text


def test_language_switch_sticks_to_the_user(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    assert "Dashboard" in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    client.post("/language", data={"csrf_token": csrf_token(client, "/"), "language": "ja", "next": "/"})
    assert "ダッシュボード" in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    # A new browser (no session cookie) still gets the user's choice after logging in.
    fresh = client.application.test_client()
    login(fresh, "editor")
    assert "ダッシュボード" in fresh.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_language_switch_refuses_an_offsite_next(client: FlaskClient, users: dict[str, str]) -> None:
    response = client.post("/language", data={"csrf_token": csrf_token(client, "/login"), "language": "ja",
                                               "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"
