"""The inbound SMTP server of the bounce domain: bounces and complaints to bounce+TOKEN@ arrive here.

The bounce domain's MX points at it. It takes mail only for return paths (``bounce+…@`` any
domain, since the default bounce domain follows each sending domain) and for any address of
KAIRAN_BOUNCE_DOMAIN when set (feedback loops often report to a fixed address there); everything
else gets 550, so it is never a relay. Messages past bounce_parser.MAX_BYTES get 552 (SMTP SIZE).

Each message is parsed and stored (tracking.bounces.receive) in a thread, off the asyncio loop,
and answered only once committed: while the database is unreachable the answer is 451, so the
sending MTA keeps the bounce and tries again later. Nothing is acknowledged that was not stored.
With KAIRAN_BOUNCE_TLS_CERT and KAIRAN_BOUNCE_TLS_KEY it offers STARTTLS (never requires it: an MTA
that cannot do TLS still gets its bounce through, as on any MX).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from core import shared_config
from core.deployment import require_shared_secret
from core.tokens import RETURN_PATH_PREFIX, UNSUBSCRIBE_PREFIX
from tracking.bounce_parser import MAX_BYTES
from tracking.bounces import receive
from tracking.settings import BOUNCES
from tracking.unsubscribes import unsubscribe_by_mail

log = logging.getLogger(__name__)

INTAKE_THREADS = 4  # messages stored at once; more wait in their SMTP session


class InboundHandler:
    """aiosmtpd handler: refuse what is not a return path, store each message before answering 250."""

    def __init__(self, app: Flask, bounce_domain: str | None) -> None:
        self.app = app
        self.bounce_domain = bounce_domain
        self.executor = ThreadPoolExecutor(INTAKE_THREADS, thread_name_prefix="bounce-intake")

    def accepts(self, address: str) -> bool:
        """Tell whether mail to this address is ours to read."""
        local, _at, domain = address.strip("<>").rpartition("@")
        if not local:
            return False
        ours = local.lower().startswith((RETURN_PATH_PREFIX, UNSUBSCRIBE_PREFIX))
        return ours or domain.lower() == self.bounce_domain

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        """Take only return paths and the bounce domain's addresses: this server relays nothing."""
        if not self.accepts(address):
            return (f"550 5.1.1 <{address}>: this server only takes bounces sent to {RETURN_PATH_PREFIX}…@ "
                    "return paths")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Store the message, then accept it; 451 while it cannot be stored, so the sender tries again."""
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            stored = await loop.run_in_executor(self.executor, self._store, raw, list(envelope.rcpt_tos))
        except SQLAlchemyError as error:
            log.warning("a bounce could not be stored (%s); answered 451 so the sender retries", error)
            return "451 4.3.0 Bounce not stored: the database is unavailable, try again later"
        return f"250 2.0.0 Bounce received ({stored} recorded)"

    def _store(self, raw: bytes, recipients: list[str]) -> int:
        with self.app.app_context():
            shared_config.check()  # bounce thresholds saved in the browser hold here too, with no restart
            locals_ = [recipient.strip("<>").rpartition("@")[0] for recipient in recipients]
            tokens = [local[len(UNSUBSCRIBE_PREFIX):] for local in locals_
                      if local.lower().startswith(UNSUBSCRIBE_PREFIX)]
            for token in tokens:  # a reader's mail client asking, by mail, to stop: not a bounce to read
                unsubscribe_by_mail(token)
            if len(tokens) == len(recipients):
                return len(tokens)
            return len(receive(raw, "smtp"))


def start_inbound(app: Flask, port: int, host: str = "127.0.0.1") -> Controller:
    """Start the inbound server in a background thread and return its controller (``stop()`` ends it)."""
    settings = app.config["KAIRAN"]
    bounce_domain, tls = settings.bounce_domain, BOUNCES.of(settings).tls
    tls_context = None
    if tls is not None:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(*tls)
    controller = Controller(
        InboundHandler(app, bounce_domain), hostname=host, port=port, data_size_limit=MAX_BYTES,
        server_hostname=bounce_domain or "kairan-bounces", decode_data=False, tls_context=tls_context,
    )
    controller.start()
    return controller


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for the bounce domain's MX).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on [default: KAIRAN_BOUNCE_PORT].")
def serve_command(host: str, port: int | None) -> None:
    """Receive bounces and complaints by SMTP until stopped (the bounce domain's MX points here)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    require_shared_secret(app.config["KAIRAN"])  # it reads the tokens the workers signed
    chosen = port or BOUNCES.of(app.config["KAIRAN"]).port
    try:
        controller = start_inbound(app, chosen, host)
    except (OSError, RuntimeError) as error:  # aiosmtpd wraps a failed bind in a RuntimeError
        raise click.ClickException(f"Cannot listen on {host}:{chosen}: {error}") from None
    click.echo(f"Receiving bounces on {host}:{chosen}")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    controller.stop()
