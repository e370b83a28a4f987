"""Transactional mail (POST /api/tx) through real RQ workers to the capture SMTP server."""

from __future__ import annotations

import email
import email.policy
import io
import json
import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import dkim
import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker

from core.queues import WORKER_QUEUES, queue, redis
from lists.suppressions import add_suppression
from mailer.mime import Attachment, build, mailbox
from mailer.outbox import Outbox
from mailer.queues import SEND_QUEUE, TX_QUEUE
from tests.helpers import api_user, run_jobs

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40  # binary: every byte value survives base64


@pytest.fixture
def template_id(client: FlaskClient, editor: dict[str, str]) -> int:
    """A transactional template in listmonk's syntax, as a listmonk user brings it."""
    response = client.post("/api/templates", headers=editor, json={
        "name": "注文確認", "type": "tx", "subject": "ご注文 {{ .Tx.Data.order }} を承りました",
        "body": "<p>{{ .Subscriber.Name }}様</p><p>ご注文番号 {{ .Tx.Data.order }}、合計 {{ tx.data.total }}円</p>"})
    return int(response.get_json()["data"]["id"])


def subscribe(client: FlaskClient, headers: dict[str, str], email_: str, name: str, status: str = "enabled") -> int:
    response = client.post("/api/subscribers", headers=headers, json={"email": email_, "name": name, "status": status})
    return int(response.get_json()["data"]["id"])


def received(capture: Outbox) -> dict[str, EmailMessage]:
    """Every captured message, parsed by the email package, by the address it went to."""
    messages = {}
    for entry in capture.page(1, 100)[0]:
        captured = capture.get(entry.key)
        assert captured is not None
        parsed = email.message_from_bytes(captured.raw.encode(), policy=email.policy.default)
        messages[parsed["To"].addresses[0].addr_spec] = parsed
    return messages


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def test_a_tx_mail_reaches_each_address_with_its_data_and_headers(app: Flask, client: FlaskClient, capture: Outbox,
                                                                   editor: dict[str, str], template_id: int) -> None:
    subscribe(client, editor, "hanako@example.jp", "佐藤 花子")
    subscribe(client, editor, "taro@example.jp", "山田 太郎")
    response = client.post("/api/tx", headers=editor, json={
        "template_id": template_id, "subscriber_emails": ["hanako@example.jp", "ＴＡＲＯ＠example.jp"],
        "data": {"order": "A-1001", "total": "12,800"}, "from_email": "回覧商店 <shop@kairan.example>",
        "headers": [{"Reply-To": "support@kairan.example"}, {"X-Order-Note": "のし紙 付き"}]})
    assert response.get_json() == {"data": True}
    with app.app_context():
        assert queue(TX_QUEUE).count == 2  # one job per message, on the transactional queue
    run_jobs(app)
    mail = received(capture)
    assert sorted(mail) == ["hanako@example.jp", "taro@example.jp"]
    hanako = mail["hanako@example.jp"]
    assert hanako["Subject"] == "ご注文 A-1001 を承りました"
    assert "佐藤 花子様" in html_of(hanako) and "ご注文番号 A-1001、合計 12,800円" in html_of(hanako)
    text = hanako.get_body(preferencelist=("plain",))
    assert text is not None and "ご注文番号 A-1001" in str(text.get_content())
    assert hanako["Reply-To"] == "support@kairan.example" and hanako["X-Order-Note"] == "のし紙 付き"
    assert hanako["From"].addresses[0].display_name == "回覧商店"
    assert "山田 太郎様" in html_of(mail["taro@example.jp"])


def test_subscriber_modes_find_recipients_as_listmonk_does(app: Flask, client: FlaskClient, capture: Outbox,
                                                           editor: dict[str, str], template_id: int) -> None:
    known = subscribe(client, editor, "hanako@example.jp", "佐藤 花子")

    def send(**fields: Any) -> tuple[int, Any, dict[str, EmailMessage]]:
        capture.clear()
        response = client.post("/api/tx", headers=editor, json={"template_id": template_id,
                                                                 "data": {"order": "A-1"}, **fields})
        run_jobs(app)
        return response.status_code, response.get_json(), received(capture)

    both = ["hanako@example.jp", "nobody@example.jp"]
    # default: only subscribers; an unknown one is named, and the others are still sent.
    status, body, mail = send(subscriber_emails=both)
    assert (status, body) == (400, {"message": "Subscriber nobody@example.jp not found."}) and list(mail) == [both[0]]
    status, body, mail = send(subscriber_ids=[known, 9999])
    assert (status, body) == (400, {"message": "Subscriber 9999 not found."}) and list(mail) == [both[0]]
    status, body, mail = send(subscriber_id=known, subscriber_mode="default")
    assert status == 200 and list(mail) == [both[0]]
    # fallback: a subscriber's data when there is one, else the address as given.
    status, body, mail = send(subscriber_emails=both, subscriber_mode="fallback")
    assert status == 200 and sorted(mail) == sorted(both)
    assert "佐藤 花子様" in html_of(mail["hanako@example.jp"]) and "<p>様</p>" in html_of(mail["nobody@example.jp"])
    # external: addresses are not looked up, so even a subscriber's template sees the address alone.
    status, body, mail = send(subscriber_email="hanako@example.jp", subscriber_mode="external")
    assert status == 200 and "<p>様</p>" in html_of(mail["hanako@example.jp"])

    refused: dict[str, list[dict[str, Any]]] = {
        "Send subscriber_emails or subscriber_ids (one of them).": [{}, {"subscriber_emails": both,
                                                                        "subscriber_ids": [known]}],
        "subscriber_ids cannot be used in fallback mode: send subscriber_emails.": [
            {"subscriber_ids": [known], "subscriber_mode": "fallback"}],
        "Send subscriber_emails.": [{"subscriber_mode": "external"}],
        "subscriber_mode must be one of: default, fallback, external.": [{"subscriber_mode": "all"}],
        "Send subscriber_email or subscriber_emails, not both.": [{"subscriber_email": both[0],
                                                                    "subscriber_emails": both}],
        "subscriber_ids must be a list of whole numbers.": [{"subscriber_ids": ["1"]}],
        "Unknown messenger sms: Kairan sends email only.": [{"subscriber_emails": both, "messenger": "sms"}],
        "data must be a JSON object.": [{"subscriber_emails": both, "data": [1]}],
    }
    for message, requests in refused.items():
        for fields in requests:
            status, body, mail = send(**fields)
            assert (status, body, mail) == (400, {"message": message}, {}), fields
    status, body, mail = send(subscriber_emails=["not an address"])
    assert status == 400 and "not an address" in body["message"] and mail == {}


def test_the_template_must_be_a_tx_template_and_render_for_the_data(client: FlaskClient, editor: dict[str, str],
                                                                    capture: Outbox, app: Flask) -> None:
    layout = client.get("/api/templates", headers=editor).get_json()["data"][0]["id"]  # a campaign layout
    for template in (layout, 9999):
        response = client.post("/api/tx", headers=editor, json={"template_id": template,
                                                                "subscriber_emails": ["a@example.jp"]})
        assert response.get_json() == {"message": f"Transactional template {template} not found."}
    sums = client.post("/api/templates", headers=editor, json={
        "name": "計算", "type": "tx", "subject": "合計", "body": "<p>{{ tx.data.n + 1 }}</p>"}).get_json()["data"]
    response = client.post("/api/tx", headers=editor, json={
        "template_id": sums["id"], "subscriber_mode": "external", "subscriber_emails": ["a@example.jp", "b@example.jp"],
        "data": {"n": "x"}})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("The template cannot be rendered for a@example.jp:")
    with app.app_context():
        assert queue(TX_QUEUE).count == 0  # a request that fails sends nobody anything


def test_suppressed_and_blocklisted_addresses_get_nothing(app: Flask, client: FlaskClient, capture: Outbox,
                                                          editor: dict[str, str], template_id: int) -> None:
    subscribe(client, editor, "bad@example.jp", "悪い 人", status="blocklisted")
    with app.app_context():
        add_suppression("bounced@example.jp", "hard_bounce", "test")
        add_suppression("@closed.example", "manual", "test")
    addresses = ["ok@example.jp", "bounced@example.jp", "someone@closed.example", "bad@example.jp"]
    for mode in ("fallback", "external"):  # external looks nobody up, yet still never mails them
        response = client.post("/api/tx", headers=editor, json={
            "template_id": template_id, "subscriber_mode": mode, "subscriber_emails": addresses})
        assert response.status_code == 400
        assert response.get_json()["message"] == (
            "bounced@example.jp is suppressed: nothing is sent to it.; "
            "someone@closed.example is suppressed: nothing is sent to it.; "
            "bad@example.jp is blocklisted: nothing is sent to it.")
    run_jobs(app)
    assert [e.to for e in capture.page(1, 10)[0]] == ["ok@example.jp", "ok@example.jp"]
    # Suppressed after the message was queued: the worker checks again and sends nothing.
    client.post("/api/tx", headers=editor, json={"template_id": template_id, "subscriber_mode": "external",
                                                 "subscriber_emails": ["late@example.jp"]})
    with app.app_context():
        add_suppression("late@example.jp", "complaint", "test")
    run_jobs(app)
    assert capture.count() == 2


def test_an_attachment_with_a_japanese_name_arrives_intact_and_signed(app: Flask, client: FlaskClient,
                                                                      capture: Outbox, template_id: int) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    domain = client.post("/api/domains", headers=admin, json={"domain": "kairan.example"}).get_json()["data"]
    record = {r["name"]: r["value"] for r in domain["dns"]}["kairan1._domainkey.kairan.example"]
    subscribe(client, admin, "hanako@example.jp", "佐藤 花子")
    long_name = "2026年11月分 ご請求書（株式会社回覧商事 御中）最終版.pdf"
    mac_name = unicodedata.normalize("NFD", "データ.csv")  # macOS uploads names decomposed
    response = client.post("/api/tx", headers=admin, content_type="multipart/form-data", data={
        "data": json.dumps({"template_id": template_id, "subscriber_email": "hanako@example.jp",
                            "data": {"order": "A-7"}, "from_email": "回覧商事 <billing@kairan.example>"}),
        "file": [(io.BytesIO(PDF), long_name, "application/pdf"), (io.BytesIO("品名,数量\n".encode()), mac_name)]})
    assert response.get_json() == {"data": True}
    run_jobs(app)
    entry = capture.page(1, 1)[0][0]
    raw = capture.get(entry.key).raw.encode()  # type: ignore[union-attr]
    lines = [line for line in raw.split(b"\r\n") if not line.startswith(b"DKIM-Signature:")]  # one long line
    assert max(len(line) for line in lines) <= 78  # RFC 2231 continuations keep even long names short
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    assert "佐藤 花子様" in html_of(parsed)
    files = [(a.get_filename(), a.get_content_type(), a.get_payload(decode=True)) for a in parsed.iter_attachments()]
    assert files == [(long_name, "application/pdf", PDF), ("データ.csv", "text/csv", "品名,数量\n".encode())]
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record.encode())


def test_oversized_attachments_are_refused_with_the_limit(app: Flask, client: FlaskClient,
                                                          editor: dict[str, str], template_id: int) -> None:
    big = b"x" * (6 * 1024 * 1024)
    response = client.post("/api/tx", headers=editor, content_type="multipart/form-data", data={
        "data": json.dumps({"template_id": template_id, "subscriber_mode": "external",
                            "subscriber_emails": ["a@example.jp"]}),
        "file": [(io.BytesIO(big), "a.bin"), (io.BytesIO(big), "b.bin")]})
    assert response.get_json() == {"message": "Attachments may total at most 10 MB."}
    response = client.post("/api/tx", headers=editor, content_type="multipart/form-data",
                           data={"data": "{not json", "file": [(io.BytesIO(b"x"), "a.txt")]})
    assert response.get_json() == {"message": "data must be a JSON object."}
    with app.app_context():
        assert queue(TX_QUEUE).count == 0


def test_headers_cannot_inject_or_replace_what_kairan_writes(app: Flask, client: FlaskClient, capture: Outbox,
                                                             editor: dict[str, str]) -> None:
    template = client.post("/api/templates", headers=editor, json={
        "name": "件名", "type": "tx", "subject": "{{ tx.data.subject }}", "body": "<p>本文</p>"}).get_json()["data"]
    base = {"template_id": template["id"], "subscriber_mode": "external", "subscriber_emails": ["a@example.jp"]}
    for headers, message in [
        ([{"X-Note": "a\r\nBcc: evil@example.com"}], "The header X-Note is not valid"),
        ([{"X-Note": "a\x01b"}], "The header X-Note is not valid"),  # every control character
        ([{"X-Note": "a\x00b"}], "Text may not contain the NUL character"),  # NUL: refused with any JSON body
        ([{"Bad Name": "a"}], "The header Bad Name is not valid"),
        ([{"From": "evil@example.com"}], "The header From is set by Kairan and cannot be given."),
        ({"X-Note": "a"}, "headers must be a list of objects"),
    ]:
        response = client.post("/api/tx", headers=editor, json={**base, "headers": headers})
        assert response.status_code == 400 and response.get_json()["message"].startswith(message)
    assert client.post("/api/tx", headers=editor, json={**base, "from_email": "x\r\n@example.jp"}).status_code == 400
    # Data that would break the subject onto a new header line stays in the subject.
    client.post("/api/tx", headers=editor, json={**base, "data": {"subject": "Hi\r\nBcc: evil@example.com"}})
    run_jobs(app)
    raw = capture.get(capture.page(1, 1)[0][0].key).raw  # type: ignore[union-attr]
    assert "\r\nBcc:" not in raw and "Subject: Hi Bcc: evil@example.com\r\n" in raw


def test_viewers_cannot_send_and_the_route_is_documented(app: Flask, client: FlaskClient,
                                                         template_id: int) -> None:
    viewer = {"Authorization": f"token {api_user(app, 'viewer', 'reader')}"}
    response = client.post("/api/tx", headers=viewer, json={"template_id": template_id,
                                                            "subscriber_emails": ["a@example.jp"]})
    assert response.status_code == 403
    document = client.get("/api/openapi.json").get_json()
    assert "post" in document["paths"]["/api/tx"] and "TxMessage" in document["components"]["schemas"]


def test_a_tx_job_queued_behind_campaign_batches_is_taken_first(app: Flask, client: FlaskClient, capture: Outbox,
                                                                editor: dict[str, str], template_id: int) -> None:
    assert WORKER_QUEUES[0] == TX_QUEUE and SEND_QUEUE in WORKER_QUEUES  # workers serve every queue, tx first
    list_id = client.post("/api/lists", headers=editor, json={"name": "お知らせ"}).get_json()["data"]["id"]
    client.post("/api/subscribers", headers=editor, json={"email": "reader@example.jp", "name": "読者",
                                                          "lists": [list_id], "preconfirm_subscriptions": True})
    for number in range(20):
        campaign = client.post("/api/campaigns", headers=editor, json={
            "name": f"号 {number}", "subject": f"第{number}号", "content_type": "plain", "body": "本文",
            "lists": [list_id]}).get_json()["data"]
        client.put(f"/api/campaigns/{campaign['id']}/status", headers=editor, json={"status": "running"})
    client.post("/api/tx", headers=editor, json={"template_id": template_id, "subscriber_mode": "external",
                                                 "subscriber_emails": ["buyer@example.jp"], "data": {"order": "A-9"}})
    with app.app_context():
        assert queue(SEND_QUEUE).count == 20 and queue(TX_QUEUE).count == 1
        # One step of a worker as `flask worker` starts it: the tx job, queued last, goes first.
        SimpleWorker([queue(name) for name in WORKER_QUEUES], connection=redis()).work(burst=True, max_jobs=1)
        assert queue(SEND_QUEUE).count == 20
    assert [(e.to, e.subject) for e in capture.page(1, 10)[0]] == [("buyer@example.jp", "ご注文 A-9 を承りました")]


def test_campaign_tests_and_opt_in_mail_take_the_tx_queue(app: Flask, client: FlaskClient,
                                                          editor: dict[str, str]) -> None:
    campaign = client.post("/api/campaigns", headers=editor, json={
        "name": "試験", "subject": "件名", "content_type": "plain", "body": "本文"}).get_json()["data"]
    response = client.post(f"/api/campaigns/{campaign['id']}/test", headers=editor,
                           json={"subscribers": ["a@example.jp", "b@example.jp"]})
    assert response.get_json() == {"data": True}
    with app.app_context():
        assert queue(TX_QUEUE).count == 2  # one message per job
        add_suppression("b@example.jp", "hard_bounce", "test")
    response = client.post(f"/api/campaigns/{campaign['id']}/test", headers=editor,
                           json={"subscribers": ["a@example.jp", "b@example.jp"]})
    assert response.get_json() == {"message": "b@example.jp is suppressed: nothing is sent to it."}
    vip = client.post("/api/lists", headers=editor, json={"name": "VIP", "type": "public",
                                                          "optin": "double"}).get_json()["data"]
    client.post("/subscription/form", data={"email": "new@example.jp", "l": vip["uuid"]})
    with app.app_context():
        assert queue(TX_QUEUE).count == 3  # the confirmation mail joined the two test messages


def test_a_long_japanese_file_name_is_continued_as_rfc_2231_says() -> None:
    name = "見積書" * 20 + ".xlsx"
    raw = build(from_=mailbox("", "a@kairan.example"), to=mailbox("", "b@example.jp"), subject="件名", text="本文",
                html="<p>本文</p>", message_id="<1@kairan.example>", date=datetime.now(UTC),
                attachments=[Attachment(name, "application/octet-stream", b"\x00\x01")]).as_bytes()
    assert b"filename*0*=utf-8''" in raw and b"filename*1*=" in raw
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert [a.get_filename() for a in parsed.iter_attachments()] == [name]
