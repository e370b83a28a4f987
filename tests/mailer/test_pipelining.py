"""The pipelined send path against a real aiosmtpd server: what arrives is exactly what was sent."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer import pipelining
from mailer.capture import offer_pipelining


class Keeper:
    """Keeps each message's envelope and its content as the server un-stuffed it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        return offer_pipelining(session, hostname, responses)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = bytes(envelope.original_content or b"")
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 OK"


@pytest.fixture
def server() -> Iterator[tuple[int, Keeper]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    keeper = Keeper()
    controller = Controller(keeper, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, keeper
    controller.stop()


@pytest.mark.parametrize("message", [
    b"Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\nmid . line\r\n.\r\nend\r\n",
    b".a dot first, on the very first line\r\n\r\nbody\r\n",
    b"Subject: no final line end\r\n\r\n.last line",
])
def test_lines_starting_with_a_dot_arrive_as_written(server: tuple[int, Keeper], message: bytes) -> None:
    # A lone "." would end the message early and ".." would lose a dot, without dot-stuffing.
    port, keeper = server
    with smtplib.SMTP("127.0.0.1", port) as connection:
        pipelining.send(connection, "bounce+1-abc@kairan.example", "reader@example.jp", message)
    assert keeper.received == [("bounce+1-abc@kairan.example", ["reader@example.jp"],
                                message if message.endswith(b"\r\n") else message + b"\r\n")]


def test_addresses_go_as_smtplib_would_put_them(server: tuple[int, Keeper]) -> None:
    # Plain addresses are put between brackets directly; a quoted legacy carrier local part goes through smtplib.
    port, keeper = server
    with smtplib.SMTP("127.0.0.1", port) as connection:
        for recipient in ["a.b+tag@example.jp", '"a..b."@docomo.ne.jp']:
            pipelining.send(connection, "bounce+2-def@kairan.example", recipient, b"Subject: x\r\n\r\nx\r\n")
    # aiosmtpd gives the mailbox with its quotes taken off
    assert [rcpt for _sender, rcpt, _content in keeper.received] == [["a.b+tag@example.jp"], ["a..b.@docomo.ne.jp"]]
    for address in ["a.b+tag@example.jp", "bounce+2-def@kairan.example", '"a..b."@docomo.ne.jp', "x@[127.0.0.1]"]:
        assert pipelining._path(address) == smtplib.quoteaddr(address)
