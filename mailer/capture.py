"""The embedded capture SMTP server: accepts every message on loopback and keeps it in a Maildir."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import current_app

from mailer.outbox import Outbox

MAX_MESSAGE_SIZE = 32 * 1024 * 1024  # bytes; larger messages are refused with 552


def offer_pipelining(session: Session, hostname: str, responses: list[str]) -> list[str]:
    """EHLO answer that offers PIPELINING, as real relays do: aiosmtpd reads pipelined commands in order."""
    session.host_name = hostname  # aiosmtpd leaves this to an EHLO hook
    return [*responses[:-1], "250-PIPELINING", responses[-1]]


class CaptureHandler:
    """aiosmtpd handler that stores each accepted message, with its envelope, in the Outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        """Offer pipelining, so campaign sends to the Outbox take the path they take to real relays."""
        return offer_pipelining(session, hostname, responses)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Store the message and accept it."""
        raw = envelope.original_content or b""
        self.outbox.store(raw, mail_from=envelope.mail_from or "", rcpt_tos=list(envelope.rcpt_tos))
        return "250 2.0.0 Message captured"


def start_capture(outbox_dir: Path, port: int, host: str = "127.0.0.1") -> Controller:
    """Start the capture server in a background thread and return its controller."""
    controller = Controller(
        CaptureHandler(Outbox(outbox_dir)), hostname=host, port=port, data_size_limit=MAX_MESSAGE_SIZE,
        server_hostname="kairan-capture", decode_data=False,
    )
    controller.start()
    return controller


@click.command("capture-smtp")
def capture_command() -> None:
    """Run the capture SMTP server on 127.0.0.1:KAIRAN_CAPTURE_PORT until stopped."""
    settings = current_app.config["KAIRAN"]
    controller = start_capture(Outbox.folder(settings.data_dir), settings.capture_port)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    controller.stop()
