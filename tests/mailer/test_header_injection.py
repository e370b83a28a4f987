"""Whatever the database holds, a header the mail builder writes stays one header (defence in depth).

The entry points fold or refuse line breaks (tests/core/test_oneline.py); here bad values are written
straight into the tables, as rows stored before that fix (or by hand) would be, and real mail is sent.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from core.db import db
from mailer.mime import build, mailbox
from mailer.outbox import Outbox
from tests.helpers import api_user, run_jobs

BAD_NAME = "Evil\r\nBcc: victim@example.com\r\nReply-To: evil@example.com\nX-Injected: 1"


def header_lines(raw: str) -> list[str]:
    """The header block's lines, folded continuations joined to the line they continue."""
    lines: list[str] = []
    for line in raw.split("\r\n\r\n", 1)[0].split("\r\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line
        else:
            lines.append(line)
    return lines


def test_a_name_broken_in_the_database_stays_in_one_to_line_of_a_campaign_and_a_tx_message(
        app: Flask, client: FlaskClient, capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    list_id = client.post("/api/lists", headers=headers, json={"name": "お知らせ"}).get_json()["data"]["id"]
    client.post("/api/subscribers", headers=headers, json={
        "email": "taro@example.jp", "name": "山田", "lists": [list_id], "preconfirm_subscriptions": True})
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "11月号", "subject": "{{ subscriber.name }}様へ", "content_type": "html", "lists": [list_id],
        "from_email": "回覧商事 <news@kairan.example>", "body": "<p>{{ subscriber.name }}様</p>"}).get_json()["data"]
    template = client.post("/api/templates", headers=headers, json={
        "name": "注文", "type": "tx", "subject": "{{ subscriber.name }}様", "body": "<p>本文</p>"}).get_json()["data"]
    with app.app_context():
        db.session.execute(text("UPDATE subscribers SET name = :bad"), {"bad": BAD_NAME})
        db.session.execute(text("UPDATE lists SET name = :bad"), {"bad": BAD_NAME})
        db.session.commit()
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    assert client.post("/api/tx", headers=headers, json={"template_id": template["id"],
                                                         "subscriber_emails": ["taro@example.jp"]}).status_code == 200
    run_jobs(app)
    entries, total = capture.page(1, 10)
    assert total == 2
    for entry in entries:
        raw = capture.get(entry.key).raw  # type: ignore[union-attr]
        lines = header_lines(raw)
        assert [line.split(":", 1)[0] for line in lines].count("To") == 1
        assert not [line for line in lines if line.split(":", 1)[0] in ("Bcc", "Reply-To", "X-Injected")]
        assert "X-Kairan-Rcpt-To: taro@example.jp" in lines  # the envelope: no one else
        message = email.message_from_string(raw, policy=email.policy.default)
        (to,) = message["To"].addresses
        assert to.addr_spec == "taro@example.jp"
        assert to.display_name == "Evil Bcc: victim@example.com Reply-To: evil@example.com X-Injected: 1"
        assert message["Subject"].startswith("Evil Bcc: victim@example.com")  # rendered into the subject: one line
        assert message["Bcc"] is None and message["Reply-To"] is None


def test_the_builder_writes_no_bare_cr_lf_or_nul_into_any_header() -> None:
    assert mailbox("Evil\x00\r\nBcc: v@example.com", "taro@example.jp\r\nBcc: w@example.com") == (
        b'"Evil Bcc: v@example.com" <taro@example.jp Bcc: w@example.com>')
    built = build(from_=b"news@kairan.example\r\nBcc: a@example.com", to=mailbox("", "taro@example.jp"),
                  subject="件名\x00\r\nBcc: b@example.com", text="本文", html="<p>本文</p>", message_id="<1@k.example>",
                  date=datetime(2026, 11, 23, tzinfo=UTC),
                  extra=[(b"X-Note", b"a\nBcc: c@example.com\r\n"), (b"X-Nul", b"a\x00b"),
                         (b"X-Folded", b"a\r\n b")])  # folding whitespace is the one line break allowed
    head = built.as_bytes().split(b"\r\n\r\n", 1)[0]
    assert b"\x00" not in head and b"\n" not in head.replace(b"\r\n", b"") and b"\r\nBcc" not in head
    values = dict(built.headers)
    assert values[b"From"] == b"news@kairan.example Bcc: a@example.com"
    assert (values[b"X-Note"], values[b"X-Nul"], values[b"X-Folded"]) == (b"a Bcc: c@example.com", b"a b", b"a\r\n b")
    assert email.message_from_bytes(built.as_bytes(), policy=email.policy.default)["Bcc"] is None
