"""A real SMTP server on loopback (aiosmtpd) that counts what it accepts and misbehaves on cue.

Tests of the send path point KAIRAN_SMTP_URL at it: it answers per recipient as told (a 5xx
for an unknown user, a 4xx once), refuses everything with 421 for a while, drops connections,
and answers each command after a delay, like a distant relay.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer.capture import offer_pipelining


class ScriptedRelay:
    """The aiosmtpd handler: ``accepted`` counts messages per recipient (lowercased)."""

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.messages: dict[str, list[bytes]] = {}  # recipient (lowercased) -> each accepted message, as sent
        self.mail_from: list[str] = []
        self.answers: dict[str, list[str]] = {}  # recipient -> replies to give to RCPT, one per try, then 250
        self.refuse_until = 0.0  # time.monotonic() before which every MAIL gets 421
        self.drop_every = 0  # close the connection instead of answering every n-th DATA (0: never)
        self.delay = 0.0  # seconds before answering each command of a transaction
        self.accept_delay = 0.0  # seconds between taking a message (counted) and saying so: a sender killed then
        # never learns its message went, and sends it again
        self.pipelining = True  # offered in EHLO, as real relays do; off: the send takes smtplib's plain path
        self.ehlo_features: list[str] = []  # the EHLO answer each connection was given
        self.lock = threading.Lock()
        self._data_count = itertools.count(1)

    def total(self) -> int:
        """Return how many messages were accepted in all."""
        with self.lock:
            return sum(self.accepted.values())

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        answer = offer_pipelining(session, hostname, responses) if self.pipelining else responses
        if not self.pipelining:
            session.host_name = hostname
        with self.lock:
            self.ehlo_features = answer
        return answer

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          options: list[str]) -> str:
        await asyncio.sleep(self.delay)
        if time.monotonic() < self.refuse_until:
            return "421 4.3.2 Service not available, closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          options: list[str]) -> str:
        await asyncio.sleep(self.delay)
        with self.lock:
            scripted = self.answers.get(address.lower())
            reply = scripted.pop(0) if scripted else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        await asyncio.sleep(self.delay)
        if self.drop_every and next(self._data_count) % self.drop_every == 0:
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()  # gone before answering: the client cannot know, so it tries again
            return "250 never seen"
        with self.lock:
            self.mail_from.append(envelope.mail_from or "")
            for rcpt in envelope.rcpt_tos:
                self.accepted[rcpt.lower().strip('"')] += 1
                self.messages.setdefault(rcpt.lower().strip('"'), []).append(envelope.original_content or b"")
        await asyncio.sleep(self.accept_delay)
        return "250 OK queued"


def start_relay(port: int, **settings: Any) -> tuple[ScriptedRelay, Controller]:
    """Start a scripted relay on 127.0.0.1:port; stop it with ``controller.stop()``."""
    relay = ScriptedRelay()
    for name, value in settings.items():
        setattr(relay, name, value)
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    return relay, controller
