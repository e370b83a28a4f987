"""Sending domains: a key per domain, the DNS records to publish, and campaign mail signed with it."""

from __future__ import annotations

import dkim
from flask import Flask
from flask.testing import FlaskClient

from mailer.outbox import Outbox
from tests.conftest import login, run_jobs, submit
from tests.core.test_api import api_user
from tests.mailer.test_compose import settings_env  # noqa: F401  (the sender's details for the footer)


def test_mail_from_a_sending_domain_is_signed_with_its_key(app: Flask, client: FlaskClient, capture: Outbox) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    domain = client.post("/api/domains", headers=admin, json={"domain": "News.Kairan.Example"}).get_json()["data"]
    assert domain["domain"] == "news.kairan.example"
    records = {r["name"]: r["value"] for r in domain["dns"]}
    dkim_record = records["kairan1._domainkey.news.kairan.example"]
    assert dkim_record.startswith("v=DKIM1; k=rsa; p=") and "private" not in str(domain).lower()
    assert records["_dmarc.news.kairan.example"].startswith("v=DMARC1; p=none")
    again = client.post("/api/domains", headers=admin, json={"domain": "news.kairan.example"})
    assert again.status_code == 409

    campaign = client.post("/api/campaigns", headers=admin, json={
        "name": "署名", "subject": "お知らせ", "content_type": "plain", "body": "本文",
        "from_email": "回覧商事 <info@news.kairan.example>"}).get_json()["data"]
    client.post(f"/api/campaigns/{campaign['id']}/test", headers=admin, json={"subscribers": ["a@example.jp"]})
    run_jobs(app)
    raw = capture.get(capture.page(1, 1)[0][0].key).raw.encode()  # type: ignore[union-attr]

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"kairan1._domainkey.news.kairan.example."
        return dkim_record.encode()

    assert dkim.verify(raw, dnsfunc=dns)


def test_admins_add_domains_in_the_ui_and_a_missing_record_is_reported(app: Flask, client: FlaskClient,
                                                                      users: dict[str, str]) -> None:
    login(client, "admin")
    response = submit(client, "/settings/domains/", domain="mail.kairan.example")
    assert response.status_code == 302
    page = client.get("/settings/domains/").get_data(as_text=True)
    assert "kairan1._domainkey.mail.kairan.example" in page and "v=DKIM1; k=rsa; p=" in page
    checked = client.post("/settings/domains/1/check",
                          data={"csrf_token": page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]},
                          follow_redirects=True).get_data(as_text=True)
    assert "could not be found" in checked  # .example never resolves, whether or not DNS is reachable
    editor = app.test_client()
    login(editor, "editor")
    assert editor.get("/settings/domains/").status_code == 403
