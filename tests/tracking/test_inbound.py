"""The inbound SMTP server (tracking/inbound.py), spoken to with smtplib and a raw socket on loopback.

What each input gets:
- a DSN to a bounce+TOKEN@ return path: 250 once stored, the bounce tied to its delivery;
- any local part at KAIRAN_BOUNCE_DOMAIN (a feedback loop's fixed address): accepted;
- any other recipient: 550 naming the address and saying only return paths are taken (never a relay);
- a message announced (SIZE=) or sent past bounce_parser.MAX_BYTES: 552, nothing stored;
- bytes that are no email message: 250, kept raw in unread_mail for a person to look at;
- protocol garbage: a 500-class answer, and the server goes on serving the next client;
- a message while the database is unreachable: 451 (the sender keeps it and retries), nothing lost;
  sent again once the database is back, it is stored once;
- with a certificate configured, STARTTLS is offered (and checked by the client), never required.
"""

from __future__ import annotations

import datetime
import ipaddress
import smtplib
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select

from app import create_app
from core import stored_settings
from core.db import db
from lists.models import Suppression
from tests.resources import free_port
from tests.tracking.bounce_mail import BOUNCE_DOMAIN, complaint, dsn, sent_campaign, verp
from tracking.bounce_parser import MAX_BYTES
from tracking.inbound import start_inbound
from tracking.models import Bounce, BounceType, UnreadMail


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "KAIRAN_BOUNCE_DOMAIN": BOUNCE_DOMAIN}


def stored(app: Flask) -> list[tuple[str, BounceType, int | None]]:
    with app.app_context():
        return [(b.email, b.type, b.delivery_id) for b in db.session.scalars(select(Bounce).order_by(Bounce.id))]


def test_a_bounce_to_a_return_path_is_stored_before_250(app: Flask, inbound: int) -> None:
    with app.app_context():
        gone = sent_campaign(["gone@example.jp"])["gone@example.jp"]
        delivery_id, token = gone.id, verp(gone)
    with smtplib.SMTP("127.0.0.1", inbound) as client:
        client.ehlo("mx.example.jp")
        refused = client.sendmail("", [f"bounce+{token}@{BOUNCE_DOMAIN}"], dsn("gone@example.jp", token=token))
    assert refused == {}
    assert stored(app) == [("gone@example.jp", BounceType.HARD, delivery_id)]
    with app.app_context():
        assert db.session.scalar(select(Suppression.value)) == "gone@example.jp"


def test_any_address_of_the_bounce_domain_is_taken_and_every_other_refused(app: Flask, inbound: int) -> None:
    with smtplib.SMTP("127.0.0.1", inbound) as client:
        client.ehlo("mx.example.jp")
        client.mail("")
        code, reply = client.rcpt("someone@example.jp")
        assert code == 550 and b"<someone@example.jp>" in reply and b"only takes bounces" in reply
        assert client.rcpt("bounce+anything@another-sending-domain.example")[0] == 250
        assert client.rcpt(f"fbl@{BOUNCE_DOMAIN}")[0] == 250
        code, reply = client.data(complaint("angry@example.jp"))
        assert code == 250
    assert stored(app) == [("angry@example.jp", BounceType.COMPLAINT, None)]  # no token: tied to no delivery


def test_a_message_past_the_size_cap_gets_552(app: Flask, inbound: int) -> None:
    with smtplib.SMTP("127.0.0.1", inbound) as client:
        client.ehlo("mx.example.jp")
        assert client.has_extn("size") and int(client.esmtp_features["size"]) == MAX_BYTES
        assert client.mail("", [f"SIZE={MAX_BYTES + 1}"])[0] == 552  # announced too big: refused at once
        client.rset()
        client.mail("")
        client.rcpt(f"bounce+x@{BOUNCE_DOMAIN}")
        code, _reply = client.data(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (MAX_BYTES // 1000 + 10))
        assert code == 552
    with app.app_context():
        assert db.session.scalars(select(UnreadMail)).all() == []


def test_garbage_is_kept_raw_or_answered_and_the_server_keeps_serving(app: Flask, inbound: int) -> None:
    with socket.create_connection(("127.0.0.1", inbound), timeout=10) as raw:
        raw.recv(1024)  # the greeting
        raw.sendall(b"\x00\xff\xfe garbage \x80\r\nMAIL FROM:<<<>>\r\nRCPT\r\n")
        answers = b""
        while answers.count(b"\r\n") < 3:
            answers += raw.recv(1024)
        assert all(line[:1] == b"5" for line in answers.split(b"\r\n") if line), answers
    nonsense = b"\x00\x01\x02 not a message \xff\r\n.."
    with smtplib.SMTP("127.0.0.1", inbound) as client:
        assert client.sendmail("", [f"bounce+x@{BOUNCE_DOMAIN}"], nonsense) == {}
    with app.app_context():
        [unread] = db.session.scalars(select(UnreadMail)).all()
        assert unread.source == "smtp" and unread.raw.startswith(b"\x00\x01\x02 not a message")


def test_while_the_database_is_down_the_answer_is_451_and_the_retry_is_stored_once(
        app: Flask, settings_env: dict[str, str], tmp_path: Path) -> None:
    with app.app_context():
        gone = sent_campaign(["gone@example.jp"])["gone@example.jp"]
        token = verp(gone)
    message = dsn("gone@example.jp", token=token)
    # The same installation, but its database server does not answer.
    down = create_app({**settings_env, "TESTING": True,
                       "KAIRAN_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/kairan"})
    port = free_port()
    controller = start_inbound(down, port)
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("", [f"bounce+{token}@{BOUNCE_DOMAIN}"], message)
        assert refused.value.smtp_code == 451 and b"try again later" in refused.value.smtp_error
    finally:
        controller.stop()
    assert stored(app) == []
    controller = start_inbound(app, port)  # the database is back; the sending MTA retries
    try:
        for _attempt in range(2):  # and, say, retries once more after a lost 250
            with smtplib.SMTP("127.0.0.1", port) as client:
                assert client.sendmail("", [f"bounce+{token}@{BOUNCE_DOMAIN}"], message) == {}
    finally:
        controller.stop()
    assert stored(app) == [("gone@example.jp", BounceType.HARD, gone.id)]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """Write a certificate for 127.0.0.1 and its key, as PEM files; return their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BOUNCE_DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "bounce.crt", folder / "bounce.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_with_a_certificate_starttls_is_offered_and_a_bounce_arrives_encrypted(
        settings_env: dict[str, str], tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    app = create_app({**settings_env, "KAIRAN_BOUNCE_TLS_CERT": str(cert), "KAIRAN_BOUNCE_TLS_KEY": str(key)})
    with app.app_context():
        upgrade()
        gone = sent_campaign(["gone@example.jp"])["gone@example.jp"]
        delivery_id, token = gone.id, verp(gone)
    port = app.config["KAIRAN"].bounces.port
    controller = start_inbound(app, port)
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.ehlo("mx.example.jp")
            assert client.has_extn("starttls")
            client.starttls(context=ssl.create_default_context(cafile=str(cert)))  # the certificate is checked
            client.ehlo("mx.example.jp")
            assert client.sendmail("", [f"bounce+{token}@{BOUNCE_DOMAIN}"], dsn("gone@example.jp", token=token)) == {}
        with smtplib.SMTP("127.0.0.1", port) as plain:  # an MTA without TLS is still heard
            plain.ehlo("old-mta.example.jp")
            assert plain.sendmail("", [f"bounce+{token}@{BOUNCE_DOMAIN}"], dsn("gone@example.jp", token=token)) == {}
    finally:
        controller.stop()
    assert stored(app) == [("gone@example.jp", BounceType.HARD, delivery_id)]  # the second report is the same one
    with app.app_context():
        db.engine.dispose()


def test_without_a_certificate_starttls_is_not_offered(app: Flask, inbound: int) -> None:
    with smtplib.SMTP("127.0.0.1", inbound) as client:
        client.ehlo("mx.example.jp")
        assert not client.has_extn("starttls")


def test_a_soft_bounce_threshold_saved_in_the_browser_holds_on_the_running_server(
        app: Flask, settings_env: dict[str, str]) -> None:
    server_app = create_app({**settings_env, "TESTING": True})  # the bounce host: its own process, started before
    port = free_port()
    controller = start_inbound(server_app, port)
    try:
        with app.app_context():
            full = sent_campaign(["full@example.jp"])["full@example.jp"]
            token = verp(full)
            stored_settings.save({"KAIRAN_SOFT_BOUNCES": "1"})  # by default three suppress; now one does
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("", [f"bounce+{token}@{BOUNCE_DOMAIN}"],
                            dsn("full@example.jp", status="4.2.2", diagnostic="452 4.2.2 Mailbox full", token=token))
    finally:
        controller.stop()
        with server_app.app_context():
            db.engine.dispose()
    assert [kind for _email, kind, _delivery in stored(app)] == [BounceType.SOFT]
    with app.app_context():
        assert db.session.scalar(select(Suppression.value)) == "full@example.jp"
