"""The Outbox: messages the capture server accepted, kept as a Maildir in the data folder."""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

OUTBOX_DIR = "outbox"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._,:-]{1,200}$")  # Maildir names; anything else is refused


@dataclass(frozen=True)
class OutboxEntry:
    """One captured message's summary, as the Outbox list shows it."""

    key: str
    mail_from: str
    to: str
    subject: str
    received_at: datetime
    size: int


@dataclass(frozen=True)
class CapturedMessage:
    """One captured message, parsed: its parts and its raw source."""

    entry: OutboxEntry
    html: str | None
    text: str | None
    raw: str


class Outbox:
    """Read and write the capture server's Maildir (atomic writes; safe across processes)."""

    def __init__(self, path: Path) -> None:
        self.box = mailbox.Maildir(path, create=True)
        self.path = path

    @staticmethod
    def folder(data_dir: Path) -> Path:
        """Return the Outbox folder inside a data folder."""
        return data_dir / OUTBOX_DIR

    def store(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> str:
        """Keep a message with its envelope (as Return-Path and X-Kairan-Rcpt-To, as an MDA would)."""
        envelope = f"Return-Path: <{mail_from}>\r\nX-Kairan-Rcpt-To: {', '.join(rcpt_tos)}\r\n".encode()
        return str(self.box.add(envelope + raw))

    def _files(self) -> list[tuple[float, str, Path]]:
        files = []
        for sub in ("new", "cur"):
            with os.scandir(self.path / sub) as entries:
                for item in entries:
                    if item.is_file() and not item.name.startswith("."):
                        files.append((item.stat().st_mtime, item.name.split(":")[0], Path(item.path)))
        return sorted(files, reverse=True)

    def count(self) -> int:
        """Return how many messages the Outbox holds."""
        return len(self._files())

    def page(self, page: int, per_page: int) -> tuple[list[OutboxEntry], int]:
        """Return one page of messages, newest first, and the total count."""
        files = self._files()
        chosen = files[(page - 1) * per_page: page * per_page]
        return [self._entry(key, path, mtime) for mtime, key, path in chosen], len(files)

    def _entry(self, key: str, path: Path, mtime: float) -> OutboxEntry:
        with path.open("rb") as fh:
            headers = BytesHeaderParser(policy=email.policy.default).parse(fh)
        return OutboxEntry(
            key=key,
            mail_from=str(headers.get("From", "")),
            to=str(headers.get("To", "")) or str(headers.get("X-Kairan-Rcpt-To", "")),
            subject=str(headers.get("Subject", "")),
            received_at=datetime.fromtimestamp(mtime, UTC),
            size=path.stat().st_size,
        )

    def _path(self, key: str) -> Path | None:
        if not KEY_PATTERN.match(key):
            return None
        new = self.path / "new" / key
        if new.is_file():
            return new
        return next((p for p in (self.path / "cur").glob(f"{key}:*") if p.is_file()), None)

    def get(self, key: str) -> CapturedMessage | None:
        """Return one message parsed, or None when there is no such message."""
        path = self._path(key)
        if path is None:
            return None
        raw = path.read_bytes()
        message = BytesParser(_class=EmailMessage, policy=email.policy.default).parsebytes(raw)
        return CapturedMessage(
            entry=self._entry(key, path, path.stat().st_mtime),
            html=_part_text(message, "html"),
            text=_part_text(message, "plain"),
            raw=raw.decode("utf-8", errors="replace"),
        )

    def clear(self) -> int:
        """Delete every captured message and return how many there were."""
        files = self._files()
        for _mtime, _key, path in files:
            path.unlink(missing_ok=True)
        return len(files)


def _part_text(message: EmailMessage, subtype: str) -> str | None:
    """Return the decoded text of the message's html or plain body, if it has one."""
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # unknown charset or broken encoding: show what we can
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)
