"""RFC 3464 delivery status notifications (also when an MTA writes their fields in plain text)."""

from __future__ import annotations

import re
from email.message import Message

from mailer.replies import enhanced_code
from tracking.bounce_parser.addresses import addresses_in
from tracking.bounce_parser.message import (
    content_type,
    cut_original,
    field_blocks,
    field_blocks_of_text,
    returned_original,
)
from tracking.bounce_parser.model import Failure
from tracking.bounce_parser.notices import around, plain_failures, preamble
from tracking.bounce_parser.verdict import FAILURE_CODE, failure_of

_DSN_IN_TEXT = re.compile(r"^(?:final|original)-recipient:", re.IGNORECASE | re.MULTILINE)


def delivery_status(message: Message, text: str) -> tuple[tuple[Failure, ...], str] | None:
    """Failures from a DSN's per-recipient fields, or None when the message has no DSN fields."""
    blocks = None
    rule = "rfc3464"
    for part in message.walk():
        if content_type(part) in ("message/delivery-status", "message/global-delivery-status"):
            blocks = field_blocks(part)
            break
    if blocks is None:
        if not _DSN_IN_TEXT.search(text):
            return None
        blocks, rule = field_blocks_of_text(text), "rfc3464-in-text"
    notice = cut_original(text)
    everyone = [_dsn_recipient(dict(block)) for block in blocks]
    failures = [_block_failure(dict(block), address, notice, everyone)
                for block, address in zip(blocks, everyone, strict=True) if address]
    # blocks about a recipient whose name is no internet address (x400, a local name) and no Original-Recipient
    unnamed = [dict(block) for block, address in zip(blocks, everyone, strict=True)
               if not address and {"final-recipient", "original-recipient"} & set(dict(block))]
    if not any(everyone) and not unnamed:  # no recipient fields at all: only the notice's words can say
        if rule == "rfc3464-in-text":
            return None
        plain = _named_by_the_notice(message, text, everyone)
        return (plain, "rfc3464-without-recipients") if plain else None
    if unnamed:
        # the notice's own words may name them: with one address per such block, each keeps its block's Status
        named = _named_by_the_notice(message, text, everyone)
        if len(named) == len(unnamed):
            failures += [_block_failure(fields, found.address, notice, [found.address])
                         for fields, found in zip(unnamed, named, strict=True)]
        else:
            failures += named
    return tuple(failure for failure in failures if failure is not None), rule


def _named_by_the_notice(message: Message, text: str, reported: list[str]) -> tuple[Failure, ...]:
    """Failed recipients the notice's text names beside its report's fields. The returned message's To: names
    whom it was sent to, not who failed (a list, a colleague in Cc), so it is not read."""
    plain = plain_failures(message, returned_original(message), text, returned_to=False)
    return tuple(failure for failure in plain if failure.address not in reported)


def _block_failure(fields: dict[str, str], address: str, notice: str, everyone: list[str]) -> Failure | None:
    """What one recipient block of a DSN reports for ``address``; None when it was delivered, relayed or expanded."""
    action = fields.get("action", "failed").lower().split()[0] if fields.get("action") else "failed"
    if action in ("delivered", "relayed", "expanded") or fields.get("status", "").strip().startswith("2"):
        return None
    diagnostic = _diagnostic_code(fields.get("diagnostic-code", ""))
    status = _status(fields.get("status", ""), diagnostic)
    reply = FAILURE_CODE.search(diagnostic)
    if action == "failed" and status.startswith("4") and reply and reply.group(1) == "5":
        status = ".".join(reply.groups())  # "failed" with a 4.x status: the remote's own 5xx reply decides
    about = around(notice, address, everyone) or notice
    context = diagnostic or about
    stated = "" if diagnostic else preamble(notice, everyone)
    return failure_of(address, status, context, delayed=action == "delayed", notice=about, stated=stated)


def _dsn_recipient(fields: dict[str, str]) -> str:
    """The internet address a DSN's recipient block reports on: its Final-Recipient when that is one, else its
    Original-Recipient (RFC 3464 2.3.1: what the sender gave, when a gateway rewrote it to an X.400 or local
    name, or to a host without a dot), else the RFC 822 address an X.400 name carries (``dda:SMTP=a@b``,
    ``/RFC-822=a(a)b/``); "" when the block names none."""
    for name in ("final-recipient", "original-recipient"):
        address = _dsn_address(fields.get(name, ""))
        if address:
            return address
    return _x400_address(fields.get("final-recipient", ""))


def _dsn_address(value: str) -> str:
    """The internet address of a Final-Recipient / Original-Recipient field (``rfc822; a@b``), or ""."""
    kind, _, address = value.partition(";") if ";" in value else ("rfc822", "", value)
    if kind.strip().lower() not in ("rfc822", "utf-8", ""):  # x400, x-local, unknown …: not an internet address
        return ""
    found = addresses_in(address)
    return found[0] if found else ""


_X400_RFC822 = re.compile(r"(?:dda:\s*smtp|rfc-?822)\s*=\s*([^/;\s]+)", re.IGNORECASE)


def _x400_address(value: str) -> str:
    """The RFC 822 address an X.400 name carries as a domain-defined attribute, or ""."""
    match = _X400_RFC822.search(value)
    found = addresses_in(match.group(1).replace("(a)", "@")) if match else []
    return found[0] if found else ""


# Some reporting MTAs (Amazon SES's among them) write their own gloss before the remote's reply:
# "5.1.0 - Unknown address error 550-'5.2.2 <a@b>... Mailbox Full' (delivery attempts: 0)". The gloss
# is not about the recipient (the same "Unknown address error" heads a full mailbox and a refused
# sender); the quoted reply is what the recipient's server said, so that is what is read.
_GLOSSED_REPLY = re.compile(r"^[245]\.\d{1,3}\.\d{1,3} - [^'\"]*?\b([245]\d\d)[- ](['\"])(.+)\2")


def _diagnostic_code(value: str) -> str:
    """The text of a Diagnostic-Code field without its type (``smtp; 550 …``), the remote's reply first."""
    value = value.split(";", 1)[1] if ";" in value[:12] else value
    text = " ".join(value.split())
    glossed = _GLOSSED_REPLY.match(text)
    return f"{glossed.group(1)} {glossed.group(3)}" if glossed else text


def _status(value: str, diagnostic: str) -> str:
    """An RFC 3463 status: the field's, unless it is generic and the diagnostic names a precise one."""
    code = enhanced_code(value) or ""
    precise = enhanced_code(diagnostic)
    if precise and (not code or code.endswith(".0.0")) and precise[0] == (code or precise)[0]:
        return precise
    if code:
        return code
    reply = re.search(r"\b([45])\d\d\b", diagnostic)
    return f"{reply.group(1)}.0.0" if reply else "5.0.0"
