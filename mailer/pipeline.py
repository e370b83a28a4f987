"""The one path every message takes: render -> MIME -> sign -> transport -> record.

A client says how its message is composed (rendered for its reader, built as MIME, signed with the
From domain's key: ``compose``) and what it keeps of the far end's answer (``record``); ``send`` and
``send_alone`` run the steps in that order over any Transport (mailer/transport.py). The clients:
a campaign's deliveries (mailer/batch_sender.py, over pooled connections) and single messages
(mailer/tx.py: transactional mail, opt-in confirmations, test sends, one connection each).

A message that cannot render for its reader (RenderError) and a connection lost before the answer
(ConnectionLostError) come back to the client as exceptions: a campaign fails or retries that delivery,
a single message's job ends or is retried by RQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mailer.mime import Built, quoted
from mailer.transport import Envelope, Outlet, Reply, Transport


@dataclass(frozen=True)
class Composed:
    """A message ready for the transport: who it is from (the return path) and to, its bytes and its Message-ID."""

    sender: str
    recipient: str  # the address as written; the envelope carries it quoted where SMTP needs that
    built: Built
    message_id: str

    @property
    def envelope(self) -> Envelope:
        """The envelope the transport hands over."""
        return Envelope(self.sender, quoted(self.recipient))


class Outgoing(Protocol):
    """One message as its client hands it to the pipeline."""

    def compose(self) -> Composed | None:
        """Render, build the MIME and sign; None when there is no one to send it to now."""

    def record(self, composed: Composed, reply: Reply) -> None:
        """Keep what the far end answered."""


def send(message: Outgoing, transport: Transport) -> Reply | None:
    """Take one message down the pipeline over an open transport; None when it had no one to go to."""
    composed = message.compose()
    if composed is None:
        return None
    return _hand_over(message, composed, transport)


def send_alone(message: Outgoing, outlet: Outlet) -> Reply | None:
    """Take one message down the pipeline over a connection of its own, opened once the message is composed."""
    composed = message.compose()
    if composed is None:
        return None
    transport = outlet.transport()
    transport.open()
    try:
        return _hand_over(message, composed, transport)
    finally:
        transport.close()


def _hand_over(message: Outgoing, composed: Composed, transport: Transport) -> Reply:
    reply = transport.send(composed.envelope, composed.built.as_bytes())
    message.record(composed, reply)
    return reply
