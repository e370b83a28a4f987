"""The transport seam: where a built message leaves Kairan, whatever carries it.

Every message takes the same pipeline (mailer/pipeline.py), and its last step is a Transport:
open a connection, send an envelope and the message's bytes and get the far end's reply, close.
The SMTP relays (mailer/smtp_transport.py: pipelined, several relays by weight, the capture server
when embedded) are one transport; an HTTP API provider would be another (docs/howto.md says how
one plugs in). Replies keep SMTP's codes, which the bounce rules read (mailer/replies.py): a
transport that speaks another protocol says what its answers mean in them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

EXTENSION = "kairan_outlet"  # app.extensions key of the installation's Outlet


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, as the transport hands it over (SMTP's MAIL FROM and RCPT TO)."""

    sender: str  # the return path: a campaign's is a VERP address on the bounce domain
    recipient: str  # one recipient a message: every message is personal


@dataclass(frozen=True)
class Reply:
    """The far end's answer to one message, as an SMTP code and text."""

    code: int
    text: str
    about_sender: bool = False  # the sender (MAIL FROM) was refused, not the recipient
    closing: bool = False  # the far end closes the connection (SMTP 421): open another for the next message

    @property
    def accepted(self) -> bool:
        """Whether the far end took the message."""
        return 200 <= self.code < 300

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


@dataclass(frozen=True)
class Route:
    """Where an open transport leads, for pacing and logs: its name, and its own rate limit if it has one."""

    key: str  # names its shared rate counter (relay:<key>)
    name: str  # host:port or the provider's, never a credential
    rate_per_second: int | None = None


class TransportError(Exception):
    """A transport could not carry a message: nothing was answered about it."""


class NoRouteError(TransportError):
    """There is nothing to send through now (every relay is taken out); sending waits until one comes back."""


class ConnectError(TransportError):
    """Opening failed (refused, timed out, TLS or login failed) at every route tried; the message is untouched."""


class ConnectionLostError(TransportError):
    """The connection dropped or timed out while sending: the message may or may not have arrived."""


class Transport(Protocol):
    """One connection's worth of a way out. Not shared between threads: each connection thread opens its own."""

    def open(self) -> Route:
        """Connect; raise NoRouteError or ConnectError when that is not possible now."""

    def send(self, envelope: Envelope, message: bytes) -> Reply:
        """Hand over one message (CRLF line ends) and return the reply; raise ConnectionLostError when none came."""

    def close(self) -> None:
        """Say goodbye if the connection still answers, and let it go; never raises."""


@dataclass(frozen=True)
class Outlet:
    """How mail leaves this installation: a fresh Transport per connection, and how many a worker may open at once."""

    transport: Callable[[], Transport]
    capacity: Callable[[], int]


def use(app: Flask, outlet: Outlet) -> None:
    """Make ``outlet`` the way every message of this app leaves (called once, in mailer's init_app)."""
    app.extensions[EXTENSION] = outlet


def outlet() -> Outlet:
    """The installation's outlet."""
    found: Outlet = current_app.extensions[EXTENSION]
    return found
