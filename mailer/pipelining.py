"""One message over an open SMTP connection with command pipelining (RFC 2920): two round trips, not four.

smtplib's sendmail waits for the answer to MAIL FROM, then RCPT TO, then DATA, then the message:
four round trips per message, so a relay 20 ms away caps each connection at ~12 messages a second.
Where the relay offers PIPELINING, ``send`` writes MAIL, RCPT and DATA at once and reads their
three answers together. It raises smtplib's own exceptions for the same answers, so callers treat
both paths alike.
"""

from __future__ import annotations

import re
import smtplib

CRLF = b"\r\n"
# An address SMTP takes as it is between angle brackets; anything else goes through smtplib's quoting.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def _path(address: str) -> str:
    """Return ``<address>`` as smtplib.quoteaddr would, without parsing an address that needs none."""
    return f"<{address}>" if _PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def dot_stuffed(message: bytes) -> bytes:
    """Return the message with a dot doubled at the start of each line (RFC 5321 4.5.2), ending in CRLF."""
    # bytes.replace works in C over the whole message: a MULTILINE regex costs more than the signature.
    body = message.replace(b"\n.", b"\n..")
    if body.startswith(b"."):
        body = b"." + body
    return body if body.endswith(CRLF) else body + CRLF


def send(connection: smtplib.SMTP, sender: str, recipient: str, message: bytes) -> None:
    """Send ``message`` (CRLF line ends) from ``sender`` to one ``recipient`` over ``connection``."""
    connection.ehlo_or_helo_if_needed()
    if not connection.has_extn("pipelining"):
        connection.sendmail(sender, [recipient], message)
        return
    size = f" SIZE={len(message)}" if connection.has_extn("size") else ""
    commands = f"MAIL FROM:{_path(sender)}{size}\r\nRCPT TO:{_path(recipient)}\r\nDATA\r\n"
    connection.send(commands.encode(connection.command_encoding))
    mail = connection.getreply()
    rcpt = connection.getreply()
    data = connection.getreply()
    if mail[0] != 250 or rcpt[0] not in (250, 251) or data[0] != 354:
        _abandon(connection, data_accepted=data[0] == 354, closing=421 in (mail[0], rcpt[0], data[0]))
        if mail[0] != 250:
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
        if rcpt[0] not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
        raise smtplib.SMTPDataError(*data)
    connection.send(dot_stuffed(message) + b"." + CRLF)
    code, reply = connection.getreply()
    if code != 250:
        if code == 421:
            connection.close()
        raise smtplib.SMTPDataError(code, reply)


def _abandon(connection: smtplib.SMTP, data_accepted: bool, closing: bool) -> None:
    """Leave a refused transaction so the connection can carry the next message (or close it on a 421)."""
    if closing:
        connection.close()
        return
    if data_accepted:  # a server that took DATA despite a refused sender or recipient: end an empty message
        connection.send(b"." + CRLF)
        connection.getreply()
    connection.rset()
