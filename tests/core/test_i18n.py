"""Japanese and English: chosen from Accept-Language, switchable, and complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from tests.helpers import csrf_token, login

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "core/translations/ja/LC_MESSAGES/messages.po"
SOURCES = ("app.py", "core", "lists", "mailer", "tracking", "automations", "templates")  # the Makefile's SOURCES


def test_every_string_has_a_japanese_translation(tmp_path: Path) -> None:
    """Every string the code and templates mark (extracted afresh, as make translations-update does) is translated."""
    extracted = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "-o", str(extracted), *SOURCES], cwd=ROOT, check=True)
    with CATALOG.open("rb") as fh:
        catalog = read_po(fh)
    with extracted.open("rb") as fh:
        marked = [m.id for m in read_po(fh) if m.id]
    translated = {m.id for m in catalog
                  if m.id and m.string and not (isinstance(m.string, tuple) and not all(m.string))}
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert [msgid for msgid in marked if msgid not in translated] == [] and fuzzy == []


def test_the_catalogue_spells_smtp_relay_one_way() -> None:
    """「SMTP リレー」 with a space, as most of the Japanese says it: never 「SMTPリレー」 in one place."""
    with CATALOG.open("rb") as fh:
        strings = [m.string for m in read_po(fh) if m.id]
    texts = [text for string in strings for text in ([string] if isinstance(string, str) else string or [])]
    assert [text for text in texts if "SMTPリレー" in text] == []
    assert any("SMTP リレー" in text for text in texts)


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
