"""Sending domains: keys per domain (RSA, Ed25519 beside it, rotation), the DNS records to publish, signed mail."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import dkim
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app import create_app
from core.crypto import cipher
from core.db import db
from mailer.domains import all_domains, private_key, rotate, set_ed25519, signer_for
from mailer.models import KeyAlgorithm, KeyState
from mailer.outbox import Outbox
from mailer.signing import new_key_pem
from tests.dns_server import DNSServer
from tests.helpers import api_user, csrf_token, login, run_jobs, submit
from tests.mailer.helpers import verified

DNSFunc = Callable[..., bytes]


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    return {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}


@pytest.fixture
def dns_server(app: Flask) -> Iterator[DNSServer]:
    """A DNS server on loopback that the app's DNS checks ask instead of the system's resolver."""
    server = DNSServer()
    app.config["DNS_NAMESERVER"] = server.address
    yield server
    server.close()


def add(client: FlaskClient, admin: dict[str, str], name: str = "news.kairan.example") -> dict[str, Any]:
    response = client.post("/api/domains", headers=admin, json={"domain": name})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json()["data"])


def send_test(app: Flask, client: FlaskClient, admin: dict[str, str], capture: Outbox,
              charset: str = "utf-8") -> bytes:
    """Send a test of a campaign from info@news.kairan.example through a real worker; return the captured mail."""
    campaign = client.post("/api/campaigns", headers=admin, json={
        "name": "署名", "subject": "お知らせ", "content_type": "plain", "body": "本文です。", "charset": charset,
        "from_email": "回覧商事 <info@news.kairan.example>"}).get_json()["data"]
    client.post(f"/api/campaigns/{campaign['id']}/test", headers=admin, json={"subscribers": ["a@example.jp"]})
    run_jobs(app)
    return capture.get(capture.page(1, 1)[0][0].key).raw.encode()  # type: ignore[union-attr]


def listed(domain: dict[str, Any]) -> DNSFunc:
    """A dnsfunc for dkimpy that answers from the DKIM records the domain lists now."""
    records = {f"{r['name']}.".encode(): r["value"].encode() for r in domain["dns"] if r["selector"]}

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name, b"")
    return dns


def selectors(raw: bytes) -> list[str]:
    """The s= of each DKIM-Signature, top to bottom."""
    return re.findall(r"DKIM-Signature: [^\r]*?s=([\w-]+);", raw.decode())


def states(domain: dict[str, Any]) -> dict[str, str]:
    return {key["selector"]: key["state"] for key in domain["keys"]}


def test_mail_from_a_sending_domain_is_signed_with_its_key(app: Flask, client: FlaskClient, capture: Outbox,
                                                           admin: dict[str, str]) -> None:
    domain = add(client, admin, "News.Kairan.Example")
    assert domain["domain"] == "news.kairan.example" and domain["selector"] == "kairan1"
    assert domain["ed25519"] is False and states(domain) == {"kairan1": "active"}
    records = {(r["type"], r["name"]): r["value"] for r in domain["dns"]}
    dkim_record = records["TXT", "kairan1._domainkey.news.kairan.example"]
    assert dkim_record.startswith("v=DKIM1; k=rsa; p=") and "private" not in str(domain).lower()
    assert records["TXT", "_dmarc.news.kairan.example"].startswith("v=DMARC1; p=none")
    assert records["TXT", "bounce.news.kairan.example"].startswith("v=spf1 ")  # SPF checks the return path's domain
    assert records["MX", "bounce.news.kairan.example"] == "10 <the host name of your Kairan server>."  # 127.0.0.1
    again = client.post("/api/domains", headers=admin, json={"domain": "news.kairan.example"})
    assert again.status_code == 409

    raw = send_test(app, client, admin, capture)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"kairan1._domainkey.news.kairan.example."
        return dkim_record.encode()

    assert selectors(raw) == ["kairan1"] and dkim.verify(raw, dnsfunc=dns)


@pytest.mark.parametrize("charset", ["utf-8", "iso-2022-jp"])
def test_ed25519_adds_a_second_signature_that_verifies(app: Flask, client: FlaskClient, capture: Outbox,
                                                       admin: dict[str, str], charset: str) -> None:
    domain_id = add(client, admin)["id"]
    turned_on = client.put(f"/api/domains/{domain_id}/ed25519", headers=admin, json={"enabled": True})
    domain = turned_on.get_json()["data"]
    assert domain["ed25519"] is True and states(domain) == {"kairan1": "active", "kairan-ed1": "active"}
    ed_record = next(r for r in domain["dns"] if r["selector"] == "kairan-ed1")
    assert ed_record["name"] == "kairan-ed1._domainkey.news.kairan.example"
    assert ed_record["value"].startswith("v=DKIM1; k=ed25519; p=") and len(ed_record["value"]) < 80

    raw = send_test(app, client, admin, capture, charset)
    assert (b"charset=" + charset.encode()) in raw
    assert selectors(raw) == ["kairan1", "kairan-ed1"] and b"a=ed25519-sha256" in raw
    assert verified(raw, listed(domain)) == [True, True]
    assert verified(raw.replace(b"Subject: ", b"Subject: Re: "), listed(domain)) == [False, False]

    turned_off = client.put(f"/api/domains/{domain_id}/ed25519", headers=admin, json={"enabled": False})
    domain = turned_off.get_json()["data"]
    assert domain["ed25519"] is False and states(domain) == {"kairan1": "active", "kairan-ed1": "retired"}
    assert verified(raw, listed(domain)) == [True, True]  # its record stays listed for mail in transit
    assert selectors(send_test(app, client, admin, capture, charset)) == ["kairan1"]
    again = client.put(f"/api/domains/{domain_id}/ed25519", headers=admin, json={"enabled": True}).get_json()
    assert states(again["data"])["kairan-ed2"] == "active"  # a new key never reuses a listed selector


def test_rotation_signs_with_the_old_key_until_the_new_one_is_activated(
        app: Flask, client: FlaskClient, capture: Outbox, admin: dict[str, str], dns_server: DNSServer) -> None:
    domain_id = add(client, admin)["id"]
    domain = client.post(f"/api/domains/{domain_id}/rotate", headers=admin).get_json()["data"]
    assert states(domain) == {"kairan1": "active", "kairan2": "pending"} and domain["selector"] == "kairan1"
    assert client.post(f"/api/domains/{domain_id}/rotate", headers=admin).status_code == 409  # one at a time
    before = send_test(app, client, admin, capture)
    assert selectors(before) == ["kairan1"] and verified(before, listed(domain)) == [True]

    new_key = next(key for key in domain["keys"] if key["selector"] == "kairan2")
    activate = f"/api/domains/{domain_id}/keys/{new_key['id']}/activate"
    refused = client.post(activate, headers=admin)
    assert refused.status_code == 400 and "could not be found" in refused.get_json()["message"]
    new_record = next(r for r in domain["dns"] if r["selector"] == "kairan2")
    dns_server.publish("TXT", new_record["name"], new_record["value"])
    domain = client.post(activate, headers=admin).get_json()["data"]
    assert states(domain) == {"kairan1": "retired", "kairan2": "active"} and domain["selector"] == "kairan2"
    assert next(key for key in domain["keys"] if key["selector"] == "kairan1")["retired_at"]

    after = send_test(app, client, admin, capture)
    assert selectors(after) == ["kairan2"] and verified(after, listed(domain)) == [True]
    assert verified(before, listed(domain)) == [True]  # mail in transit still verifies while kairan1 is listed

    old_key = next(key for key in domain["keys"] if key["selector"] == "kairan1")
    in_use = client.delete(f"/api/domains/{domain_id}/keys/{new_key['id']}", headers=admin)
    assert in_use.status_code == 400 and "signs mail" in in_use.get_json()["message"]
    domain = client.delete(f"/api/domains/{domain_id}/keys/{old_key['id']}", headers=admin).get_json()["data"]
    assert states(domain) == {"kairan2": "active"} and "kairan1._domainkey" not in str(domain["dns"])

    domain = client.post(f"/api/domains/{domain_id}/rotate", headers=admin).get_json()["data"]
    third = next(key for key in domain["keys"] if key["selector"] == "kairan3")
    forced = client.post(f"/api/domains/{domain_id}/keys/{third['id']}/activate", headers=admin, json={"force": True})
    assert states(forced.get_json()["data"]) == {"kairan2": "retired", "kairan3": "active"}


def test_the_dns_check_looks_at_each_key_and_the_bounce_mx(app: Flask, client: FlaskClient, admin: dict[str, str],
                                                          dns_server: DNSServer) -> None:
    settings = app.config["KAIRAN"]  # as if the environment named the host (it outlives settings read again)
    app.config["KAIRAN"] = dataclasses.replace(settings, base_url="https://mail.kairan.example",
                                               env={**settings.env, "KAIRAN_BASE_URL": "https://mail.kairan.example"})
    domain_id = add(client, admin)["id"]
    domain = client.put(f"/api/domains/{domain_id}/ed25519", headers=admin, json={"enabled": True}).get_json()["data"]
    records = {(r["type"], r["name"]): r["value"] for r in domain["dns"]}
    assert records["MX", "bounce.news.kairan.example"] == "10 mail.kairan.example."
    check = f"/api/domains/{domain_id}/check"

    result = client.post(check, headers=admin).get_json()["data"]
    assert result["ok"] is False
    assert [(r["name"], r["ok"]) for r in result["records"]] == [
        ("kairan1._domainkey.news.kairan.example", False), ("kairan-ed1._domainkey.news.kairan.example", False),
        ("bounce.news.kairan.example", False)]

    for (kind, name), value in records.items():
        if "_domainkey" in name:
            dns_server.publish(kind, name, value)  # long TXT values in 255-character strings, as providers do
    dns_server.publish("MX", "bounce.news.kairan.example", "10 elsewhere.example.")
    result = client.post(check, headers=admin).get_json()["data"]
    assert [r["ok"] for r in result["records"]] == [True, True, False]
    assert result["message"] == ("The MX of bounce.news.kairan.example is elsewhere.example, "
                                 "not mail.kairan.example.")

    dns_server.published["bounce.news.kairan.example", "MX"] = ["10 mail.kairan.example."]
    result = client.post(check, headers=admin).get_json()["data"]
    assert result == {**result, "ok": True, "message": "All 3 records are published."}


def test_bad_requests_are_refused_with_a_reason(app: Flask, client: FlaskClient, admin: dict[str, str]) -> None:
    first, second = add(client, admin)["id"], add(client, admin, "other.kairan.example")
    bad_flag = client.put(f"/api/domains/{first}/ed25519", headers=admin, json={"enabled": "yes"})
    assert bad_flag.status_code == 400 and bad_flag.get_json()["message"] == "enabled must be true or false."
    active = second["keys"][0]
    not_pending = client.post(f"/api/domains/{second['id']}/keys/{active['id']}/activate", headers=admin)
    assert not_pending.status_code == 400 and "kairan1 is not waiting" in not_pending.get_json()["message"]
    elsewhere = client.delete(f"/api/domains/{first}/keys/{active['id']}", headers=admin)
    assert elsewhere.status_code == 400 and elsewhere.get_json()["message"] == "DKIM key not found."
    assert client.get("/api/domains/99", headers=admin).status_code == 400
    paths = client.get("/api/openapi.json", headers=admin).get_json()["paths"]
    assert {"/api/domains/{domain_id}/ed25519", "/api/domains/{domain_id}/rotate",
            "/api/domains/{domain_id}/keys/{key_id}/activate", "/api/domains/{domain_id}/keys/{key_id}"} <= set(paths)


def test_admins_manage_domains_and_keys_in_the_ui(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "admin")
    assert submit(client, "/settings/domains/", domain="mail.kairan.example").status_code == 302
    page = client.get("/settings/domains/").get_data(as_text=True)
    assert "kairan1._domainkey.mail.kairan.example" in page and "v=DKIM1; k=rsa; p=" in page
    assert "bounce.mail.kairan.example" in page
    checked = client.post("/settings/domains/1/check", data={"csrf_token": csrf_token(client, "/settings/domains/")})
    assert "could not be found" in checked.get_data(as_text=True)  # .example never resolves, reachable DNS or not

    def post(action: str, **data: str) -> str:
        response = submit(client, "/settings/domains/", f"/settings/domains/1/{action}", **data)
        assert response.status_code == 302
        return str(client.get("/settings/domains/").get_data(as_text=True))

    page = post("ed25519", enabled="1")
    assert "Ed25519 is on with the key kairan-ed1" in page and "v=DKIM1; k=ed25519; p=" in page
    page = post("rotate")
    assert 'data-selector="kairan2" data-state="pending"' in page
    page = post("keys/3/activate")
    assert "could not be found" in page and 'data-selector="kairan2" data-state="pending"' in page
    page = post("keys/3/activate", force="1")
    assert 'data-selector="kairan1" data-state="retired"' in page and "kairan2 signs mail now" in page
    page = post("keys/1/delete")
    assert "Key kairan1 removed" in page and "kairan1._domainkey" not in page
    page = post("ed25519", enabled="0")
    assert 'data-selector="kairan-ed1" data-state="retired"' in page
    editor = app.test_client()
    login(editor, "editor")
    assert editor.get("/settings/domains/").status_code == 403
    assert editor.post("/api/domains/1/rotate").status_code == 403


@pytest.mark.unmigrated
def test_the_migration_moves_each_domains_key_into_dkim_keys_and_back(
        settings_env: dict[str, str]) -> None:
    app = create_app({**settings_env, "TESTING": True})
    with app.app_context():
        upgrade(revision="0010")
        pem = new_key_pem()
        created = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO sending_domains (domain, selector, private_key, created_at) "
                                    "VALUES ('news.kairan.example', 'kairan1', :key, :created)"),
                               {"key": cipher("dkim").encrypt(pem).decode(), "created": created})
        upgrade()
        sending = all_domains()[0]
        (key,) = sending.keys
        assert (key.selector, key.algorithm, key.state, key.activated_at) == (
            "kairan1", KeyAlgorithm.RSA, KeyState.ACTIVE, created)
        assert private_key(key) == pem and signer_for("info@news.kairan.example") is not None
        rotate(sending)
        set_ed25519(sending, True)
        db.session.remove()

        downgrade(revision="0010")
        with db.engine.connect() as connection:
            row = connection.execute(text("SELECT domain, selector, private_key FROM sending_domains")).one()
        assert row[:2] == ("news.kairan.example", "kairan1") and cipher("dkim").decrypt(row[2].encode()) == pem
        upgrade()  # and up again, as an installation that went back and forth would
        assert [(k.selector, k.state) for k in all_domains()[0].keys] == [("kairan1", KeyState.ACTIVE)]
        db.session.remove()
        db.engine.dispose()


def test_the_spf_row_speaks_the_readers_language(app: Flask, client: FlaskClient, admin: dict[str, str]) -> None:
    """The SPF record's placeholder was English inside the Japanese page; now it follows the reader."""
    add(client, admin)
    japanese = client.get("/api/domains", headers={**admin, "Accept-Language": "ja"}).get_json()["data"][0]
    spf = {(r["type"], r["name"]): r["value"] for r in japanese["dns"]}["TXT", "news.kairan.example"]
    assert spf == "v=spf1 a mx include:<送信リレーの SPF ドメイン> ~all"
    english = client.get("/api/domains", headers={**admin, "Accept-Language": "en"}).get_json()["data"][0]
    assert "include:<your relay’s SPF domain>" in str(english["dns"])
