"""Mailbox polling: bounces a relay returns to a mailbox (KAIRAN_BOUNCE_MAILBOX), read over IMAP or POP3 with TLS.

A worker polls it every KAIRAN_BOUNCE_MAILBOX_SECONDS (queued from the send reconciler, at most once
an interval across all workers). Each message is recorded (tracking.bounces.receive) and removed
from the mailbox only after its commit:
- IMAP: flagged \\Deleted after its commit, and expunged at the end of the poll. A poll that dies in
  between leaves it flagged; the next poll reads only undeleted messages and expunges it.
- POP3: marked for deletion after its commit; the server deletes at QUIT. A poll that dies before
  QUIT sees the messages again, and a delivery's bounce is still stored once.
While the database is unreachable the poll stops at that message and leaves it and the rest in place.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import poplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from urllib.parse import unquote, urlsplit

from redis.exceptions import LockError
from sqlalchemy.exc import SQLAlchemyError

from core.queues import DEFAULT_QUEUE, queue, redis
from tracking.bounce_parser import MAX_BYTES
from tracking.bounces import receive
from tracking.settings import BOUNCES

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30  # a mailbox server that stops answering ends the poll, not the worker
MESSAGES_PER_POLL = 500  # the rest wait for the next poll, so one job never runs for long
SCHEDULE_LOCK = "kairan:bounce-mailbox:scheduled"  # held for an interval by whoever queued the poll
POLL_LOCK = "kairan:bounce-mailbox:polling"  # held while a poll runs: two never read one mailbox at once
DEFAULT_PORTS = {"imaps": 993, "imap+starttls": 143, "pop3s": 995, "pop3+starttls": 110}


class MailboxError(Exception):
    """The mailbox cannot be read (refused login, unknown folder, TLS failure); the message says why."""


@dataclass(frozen=True)
class Mailbox:
    """Where bounces wait: KAIRAN_BOUNCE_MAILBOX taken apart."""

    scheme: str
    host: str
    port: int
    user: str
    password: str
    folder: str  # IMAP only

    @property
    def source(self) -> str:
        """The bounces' source, as listmonk names it."""
        return "imap" if self.scheme.startswith("imap") else "pop3"

    @classmethod
    def from_url(cls, url: str) -> Mailbox:
        """Take a URL apart (core.settings checked its shape at start-up)."""
        parts = urlsplit(url)
        return cls(scheme=parts.scheme, host=parts.hostname or "", port=parts.port or DEFAULT_PORTS[parts.scheme],
                   user=unquote(parts.username or ""), password=unquote(parts.password or ""),
                   folder=unquote(parts.path.strip("/")) or "INBOX")

    def __str__(self) -> str:  # for logs and errors: never the password
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}"


def _tls() -> ssl.SSLContext:
    # The system's CAs (SSL_CERT_FILE / SSL_CERT_DIR name others), host name checked.
    return ssl.create_default_context()


def poll(mailbox: Mailbox | None = None, limit: int = MESSAGES_PER_POLL) -> int:
    """Read the bounce mailbox once; return how many messages were recorded and removed."""
    if mailbox is None:
        url = BOUNCES.current().mailbox
        if url is None:
            return 0
        mailbox = Mailbox.from_url(url)
    read = _poll_imap if mailbox.source == "imap" else _poll_pop3
    try:
        return read(mailbox, limit)
    except (OSError, imaplib.IMAP4.error, poplib.error_proto) as error:  # ssl.SSLError is an OSError
        raise MailboxError(f"The bounce mailbox {mailbox} could not be read: {error}") from error


def _take(raw: bytes, mailbox: Mailbox, remove: Callable[[], object]) -> bool:
    """Record one message and remove it once committed; False (and nothing removed) when it cannot be stored."""
    try:
        receive(raw[: MAX_BYTES + 1], mailbox.source)  # past the cap it is kept raw, not read
    except SQLAlchemyError as error:
        log.warning("the bounce mailbox %s stays as it is: the database is unavailable (%s)", mailbox, error)
        return False
    remove()
    return True


def _poll_imap(mailbox: Mailbox, limit: int) -> int:
    with _imap(mailbox) as client:
        status, found = client.uid("SEARCH", "UNDELETED")
        uids = found[0].split()[:limit] if status == "OK" and found and found[0] else []
        taken = 0
        try:
            for uid in uids:
                status, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((item[1] for item in data if isinstance(item, tuple)), None)
                if status != "OK" or not isinstance(raw, bytes):
                    continue  # expunged meanwhile by another client
                if not _take(raw, mailbox, partial(client.uid, "STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")):
                    break
                taken += 1
        finally:
            client.expunge()
        return taken


@contextmanager
def _imap(mailbox: Mailbox) -> Iterator[imaplib.IMAP4]:
    client: imaplib.IMAP4
    if mailbox.scheme == "imaps":
        client = imaplib.IMAP4_SSL(mailbox.host, mailbox.port, ssl_context=_tls(), timeout=TIMEOUT_SECONDS)
    else:
        client = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=TIMEOUT_SECONDS)
        client.starttls(_tls())
    try:
        client.login(mailbox.user, mailbox.password)
        status, detail = client.select(_imap_folder(mailbox.folder))
        if status != "OK":
            raise MailboxError(f"The bounce mailbox {mailbox} has no folder {mailbox.folder!r}: "
                               f"{detail[0]!r}")
        yield client
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            pass  # the connection is gone already


def _imap_folder(name: str) -> str:
    # IMAP wants a quoted string for names with spaces; imaplib sends it as given.
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _poll_pop3(mailbox: Mailbox, limit: int) -> int:
    client: poplib.POP3
    if mailbox.scheme == "pop3s":
        client = poplib.POP3_SSL(mailbox.host, mailbox.port, context=_tls(), timeout=TIMEOUT_SECONDS)
    else:
        client = poplib.POP3(mailbox.host, mailbox.port, timeout=TIMEOUT_SECONDS)
        client.stls(_tls())
    taken = 0
    try:
        client.user(mailbox.user)
        client.pass_(mailbox.password)
        count, _size = client.stat()
        for number in range(1, min(count, limit) + 1):
            _response, lines, _octets = client.retr(number)
            if not _take(b"\r\n".join(lines) + b"\r\n", mailbox, partial(client.dele, number)):
                break
            taken += 1
        client.quit()  # the deletions take effect here
    except BaseException:
        client.close()  # no QUIT: the server deletes nothing, every message stays for the next poll
        raise
    return taken


def poll_job() -> int:
    """The RQ job: poll unless another worker is polling now; errors are logged for the dashboard's notices."""
    lock = redis().lock(POLL_LOCK, timeout=TIMEOUT_SECONDS * 4 + MESSAGES_PER_POLL)
    if not lock.acquire(blocking=False):
        return 0
    try:
        return poll()
    except MailboxError as error:
        log.error("%s", error)
        return 0
    finally:
        with contextlib.suppress(LockError):  # it outlived its timeout: another poll may hold the lock now
            lock.release()


def queue_poll_on_reconcile(_sender: object = None) -> None:
    """The send reconciler's signal: queue a poll at most once each KAIRAN_BOUNCE_MAILBOX_SECONDS, across workers."""
    settings = BOUNCES.current()
    if settings.mailbox is None:
        return
    try:
        if redis().set(SCHEDULE_LOCK, "1", nx=True, ex=settings.mailbox_seconds):
            queue(DEFAULT_QUEUE).enqueue(poll_job, job_timeout=TIMEOUT_SECONDS * 4 + MESSAGES_PER_POLL)
    except Exception:  # the reconciler's own work must go on
        log.exception("queueing the bounce mailbox poll failed")
