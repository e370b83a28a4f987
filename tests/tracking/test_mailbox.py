"""Mailbox polling (tracking/mailbox.py) against a real dovecot over IMAP and POP3 with TLS (tests/dovecot.py).

What each input gets:
- a bounce, a complaint, an unreadable message and an auto-reply in the mailbox: the bounce and the
  complaint stored (source imap or pop3), the unreadable one kept in unread_mail, the auto-reply
  dropped, and all four removed from the mailbox once recorded;
- the same, over STARTTLS on the plain ports;
- a poll while the database is unreachable: nothing removed, the messages wait for the next poll;
- a wrong password, or a server certificate nobody trusts: MailboxError naming the mailbox (never the
  password) and saying what failed; nothing removed;
- the workers' schedule: the send reconciler queues a poll at most once per KAIRAN_BOUNCE_MAILBOX_SECONDS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from core.db import db
from core.queues import DEFAULT_QUEUE, queue
from core.settings import SettingsError, load_settings
from mailer.sending import reconcile
from tests.dovecot import DOVECOT, SKIP_REASON, Dovecot, run_dovecot
from tests.helpers import run_jobs
from tests.resources import free_port
from tests.tracking.bounce_mail import complaint, dsn, sent_campaign, verp
from tracking.mailbox import Mailbox, MailboxError, poll
from tracking.models import Bounce, BounceType, UnreadMail

needs_dovecot = pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
AUTO_REPLY = (b"From: taro@example.jp\r\nTo: news@bounce.kairan.example\r\nSubject: Out of office\r\n"
              b"Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n")
GARBAGE = b"\xff\xfe not a message\r\n"  # no NUL: dovecot stores a NUL as 0x80


@pytest.fixture
def dovecot(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dovecot]:
    """A dovecot of this test's own; its self-signed certificate trusted the way an admin would (SSL_CERT_FILE)."""
    with run_dovecot(tmp_path_factory.mktemp("dovecot")) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        yield server


@pytest.fixture
def settings_env(settings_env: dict[str, str], dovecot: Dovecot) -> dict[str, str]:
    return {**settings_env, "KAIRAN_BOUNCE_MAILBOX": dovecot.url("imaps"), "KAIRAN_BOUNCE_MAILBOX_SECONDS": "3600"}


def fill(dovecot: Dovecot) -> tuple[int, int]:
    """A bounce and a complaint about deliveries of a campaign, garbage and an auto-reply; the deliveries' ids."""
    sent = sent_campaign(["gone@example.jp", "angry@example.jp"])
    dovecot.deliver(dsn("gone@example.jp", token=verp(sent["gone@example.jp"])),
                    complaint("angry@example.jp", message_id=sent["angry@example.jp"].message_id),
                    GARBAGE, AUTO_REPLY)
    return sent["gone@example.jp"].id, sent["angry@example.jp"].id


def recorded() -> tuple[list[tuple[str, BounceType, str, int | None]], list[tuple[str, bytes]]]:
    db.session.expire_all()
    rows = db.session.scalars(select(Bounce).order_by(Bounce.id))
    bounces = [(b.email, b.type, b.source, b.delivery_id) for b in rows]
    return bounces, [(u.source, u.raw) for u in db.session.scalars(select(UnreadMail))]


@needs_dovecot
@pytest.mark.parametrize("scheme", ["imaps", "pop3s", "imap+starttls", "pop3+starttls"])
def test_each_message_is_recorded_then_removed(ctx: None, dovecot: Dovecot, scheme: str) -> None:
    gone, angry = fill(dovecot)
    mailbox = Mailbox.from_url(dovecot.url(scheme))
    assert poll(mailbox) == 4
    source = mailbox.source
    assert recorded() == ([("gone@example.jp", BounceType.HARD, source, gone),
                           ("angry@example.jp", BounceType.COMPLAINT, source, angry)], [(source, GARBAGE)])
    assert dovecot.held() == 0
    assert poll(mailbox) == 0  # nothing read twice


@needs_dovecot
def test_while_the_database_is_down_every_message_stays(
        app: Flask, dovecot: Dovecot, settings_env: dict[str, str]) -> None:
    with app.app_context():
        fill(dovecot)
    down = create_app({**settings_env, "TESTING": True,
                       "KAIRAN_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/kairan"})
    for scheme in ("imaps", "pop3s"):
        with down.app_context():
            assert poll(Mailbox.from_url(dovecot.url(scheme))) == 0
        assert dovecot.held() == 4
    with app.app_context():
        assert poll() == 4  # the database is back: the next poll takes them
        assert len(recorded()[0]) == 2 and dovecot.held() == 0


@needs_dovecot
def test_a_refused_login_or_an_untrusted_certificate_is_a_clear_error(
        ctx: None, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fill(dovecot)
    for scheme in ("imaps", "pop3s"):
        with pytest.raises(MailboxError) as refused:
            poll(Mailbox.from_url(dovecot.url(scheme, password="wrong password")))
        message = str(refused.value)
        assert message.startswith(f"The bounce mailbox {scheme}://bounces@127.0.0.1:") and "wrong" not in message
    other_ca = tmp_path / "nobody.pem"
    other_ca.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))
    with pytest.raises(MailboxError, match="CERTIFICATE_VERIFY_FAILED"):
        poll(Mailbox.from_url(dovecot.url("imaps")))
    assert dovecot.held() == 4 and recorded() == ([], [])


@needs_dovecot
def test_the_workers_poll_once_per_interval(app: Flask, dovecot: Dovecot) -> None:
    with app.app_context():
        fill(dovecot)
        reconcile()  # what a worker runs every KAIRAN_RECONCILE_SECONDS
        reconcile()
        assert len(queue(DEFAULT_QUEUE)) == 1  # one poll queued, not two: the interval is an hour
    run_jobs(app)
    with app.app_context():
        assert len(recorded()[0]) == 2 and dovecot.held() == 0


def test_the_bounce_settings_are_checked_at_start_up(tmp_path: Path) -> None:
    # plain IMAP (no TLS), no user, no password, a port that is no number: each refused with one sentence
    for bad in ("imap://u:p@host/INBOX", "imaps://host:993", "pop3s://user@host", "imaps://u:p@host:port"):
        with pytest.raises(SettingsError, match="KAIRAN_BOUNCE_MAILBOX must be a URL with a user and a password"):
            load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_BOUNCE_MAILBOX": bad})
    with pytest.raises(SettingsError, match="KAIRAN_BOUNCE_PORT must differ from KAIRAN_PORT and KAIRAN_CAPTURE_PORT"):
        load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_BOUNCE_PORT": "5000"})
    mailbox = Mailbox.from_url("imaps://bounce%40example.jp:p%3Ass@mail.example.jp/Bounces")
    assert (mailbox.user, mailbox.password, mailbox.port, mailbox.folder) == ("bounce@example.jp", "p:ss", 993,
                                                                              "Bounces")
    assert "p:ss" not in str(mailbox)
