"""The SMTP relays as a Transport: a healthy relay picked by weight, each message pipelined where it may be.

The relays are the configured ones, or KAIRAN_SMTP_URL (mailer/relays.py): the capture server on
loopback when Kairan runs embedded, whose mail the Outbox shows. Whatever a relay does to the
connection is reported to its shared health here (refused, dropped, timed out, 421), so the
pipeline and its clients only see replies.
"""

from __future__ import annotations

import contextlib
import smtplib

from flask import current_app
from flask_babel import gettext as _

from core.health import Component
from mailer import pipelining, relays
from mailer.relays import AllRelaysOutError, Relay
from mailer.transport import ConnectError, ConnectionLostError, Envelope, Outlet, Reply, Route

HEALTH_TIMEOUT = 3.0  # the dashboard must not hang on a dead relay


class RelayTransport:
    """One SMTP connection to one of the relays; another relay is tried when one cannot be reached."""

    def __init__(self) -> None:
        self.relay: Relay | None = None
        self.connection: smtplib.SMTP | None = None

    def open(self) -> Route:
        """Connect to a healthy relay picked by weight, trying the others when it fails."""
        candidates = relays.active_relays()
        while True:
            relay = relays.pick(candidates)
            if relay is None:
                raise all_out()
            try:
                self.connection = relay.connect()
            except OSError as error:  # smtplib's errors are OSErrors too
                relays.report_failure(relay)
                candidates = [other for other in candidates if other.key != relay.key]
                if not candidates:  # every relay failed just now: the caller sees the last reason
                    raise ConnectError(f"{relay.describe()}: {error}") from error
                continue
            self.relay = relay
            return Route(relay.key, relay.describe(), relay.rate_per_second)

    def send(self, envelope: Envelope, message: bytes) -> Reply:
        """Send one message over the open connection (pipelined where the relay offers it)."""
        relay, connection = self.relay, self.connection
        if relay is None or connection is None:
            raise ConnectionLostError("the connection is not open")
        try:
            pipelining.send(connection, envelope.sender, envelope.recipient, message)
        except smtplib.SMTPRecipientsRefused as refused:
            code, answer = next(iter(refused.recipients.values()))
            return Reply(code, answer.decode(errors="replace"))
        except smtplib.SMTPResponseException as error:  # MAIL FROM or DATA refused, or 421 closing
            text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) \
                else str(error.smtp_error)
            reply = Reply(error.smtp_code, text, closing=error.smtp_code == 421,
                          about_sender=isinstance(error, smtplib.SMTPSenderRefused) and error.smtp_code >= 500)
            if reply.closing:
                relays.report_failure(relay)
                self._drop()
            return reply
        except OSError as error:  # a dropped connection or a timeout (smtplib's SMTPServerDisconnected too)
            relays.report_failure(relay)
            self._drop()
            raise ConnectionLostError(f"{relay.describe()}: {error or type(error).__name__}") from error
        relays.report_success(relay)
        return Reply(250, "")

    def close(self) -> None:
        """Say QUIT and close (a connection that dropped or said 421 was closed already)."""
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.quit()
            self._drop()

    def _drop(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def capacity() -> int:
    """How many connections a worker may open to the healthy relays together (at least one)."""
    return sum(relay.max_connections for relay in relays.healthy(relays.active_relays())) or 1


RELAYS = Outlet(RelayTransport, capacity)


def all_out() -> AllRelaysOutError:
    """The error when every relay is taken out."""
    return AllRelaysOutError(_("Every SMTP relay is taken out after repeated failures; "
                               "sending resumes when one comes back."))


def check_smtp() -> Component:
    """Connect to a relay, picked as the send picks it, and say NOOP."""
    relay = relays.pick(relays.active_relays())
    if relay is None:
        raise all_out()
    with relay.connect(timeout=HEALTH_TIMEOUT) as conn:
        code, _msg = conn.noop()
    embedded = current_app.config["KAIRAN"].embedded_smtp and relay.key == relays.URL_KEY
    return Component(ok=code == 250, detail=relay.describe(),
                     data={"capture": embedded, "relays": len(relays.active_relays())})
