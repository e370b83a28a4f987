"""SMTP transport: parse KAIRAN_SMTP_URL, send a message, check that the relay answers."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import current_app

from core.health import Component

SMTP_TIMEOUT = 10.0  # seconds for connect and each command
HEALTH_TIMEOUT = 3.0  # the dashboard must not hang on a dead relay


@dataclass(frozen=True)
class SMTPRelay:
    """Where and how to hand mail over: smtp://, smtps:// (TLS) or smtp+starttls://, with optional auth."""

    host: str
    port: int
    tls: bool
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SMTPRelay:
        """Parse a relay URL such as ``smtp+starttls://user:pass@mail.example.com:587``."""
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=parts.scheme == "smtp+starttls",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def connect(self, timeout: float = SMTP_TIMEOUT) -> smtplib.SMTP:
        """Open an authenticated connection to the relay."""
        context = ssl.create_default_context()
        conn: smtplib.SMTP
        if self.tls:
            conn = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=timeout)
            if self.starttls:
                conn.starttls(context=context)
        if self.username:
            conn.login(self.username, self.password or "")
        return conn

    def describe(self) -> str:
        """Return host:port without credentials, for pages and logs."""
        return f"{self.host}:{self.port}"


def current_relay() -> SMTPRelay:
    """Return the relay configured by KAIRAN_SMTP_URL (the capture server by default)."""
    return SMTPRelay.from_url(current_app.config["KAIRAN"].smtp_url)


def send(mail_from: str, rcpt_to: list[str], message: bytes) -> None:
    """Hand one message to the relay; smtplib's exceptions propagate so RQ retries and reports."""
    with current_relay().connect() as conn:
        conn.sendmail(mail_from, rcpt_to, message)


def check_smtp() -> Component:
    """Connect to the relay and say NOOP."""
    relay = current_relay()
    with relay.connect(timeout=HEALTH_TIMEOUT) as conn:
        code, _msg = conn.noop()
    embedded = current_app.config["KAIRAN"].embedded_smtp
    return Component(ok=code == 250, detail=relay.describe(), data={"capture": embedded})
