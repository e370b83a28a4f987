"""Reading a notice as a MIME message: its header values, its human-readable text, the original it
returns, and the ``Name: value`` field blocks of its report parts."""

from __future__ import annotations

import email
import email.header
import email.policy
import re
from email.message import Message

_ORIGINAL_MARK = re.compile(
    r"^\s*(?:[-=_*>]{2,}.*(?:original|copy of|returned|below this line|undelivered message|headers? (?:of|follow))"
    r"|.*(?:original message (?:follows|headers)|the header of the original|this is a copy of the message|"
    r"below this line is a copy|unsent message below|元のメッセージ|以下.{0,10}(?:原文|元の))|"
    r"original-?message:|content-type: message/rfc822|return-path:\s*<|received: from \S+ \()",
    re.IGNORECASE | re.MULTILINE)


# --- reading the message --------------------------------------------------------------------------------------

def clean(value: object) -> str:
    """A header value as one line of text (RFC 2047 words decoded)."""
    text = str(value or "")
    try:
        text = str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        pass
    return " ".join(text.split())


def content_type(part: Message) -> str:
    """A part's MIME type, also when its parameters follow on a folded line without a ';' (X1's notices)."""
    kind = part.get_content_type().split()
    return kind[0].rstrip(";") if kind else "text/plain"


def decoded(part: Message) -> str:
    """A non-multipart part's body as text, whatever its transfer encoding and charset."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = str(part.get_payload()).encode("utf-8", "replace")
    charset = part.get_content_charset() or "utf-8"
    for candidate in (charset, "utf-8", "iso-2022-jp", "cp932", "latin-1"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")  # pragma: no cover - latin-1 decodes anything


def _top_parts(message: Message) -> list[Message]:
    """The parts of the notice itself: leaves of the multipart tree, not entering returned messages."""
    if not message.is_multipart():
        return [message]
    parts: list[Message] = []
    for part in message.get_payload():
        if not isinstance(part, Message):
            continue
        if content_type(part) == "message/rfc822":
            continue
        whole = _unfold_lost_boundary(part)
        parts.extend(_top_parts(whole) if whole.is_multipart() else [whole])
    return parts


_LOST_BOUNDARY = re.compile(r"\A\s*(boundary=[^\r\n]+)\r?\n")


def _unfold_lost_boundary(part: Message) -> Message:
    """A multipart part whose ``boundary=`` went onto an unindented line (so into the body) as a real multipart."""
    payload = part.get_payload()
    if not isinstance(payload, str) or part.get_content_maintype() != "multipart":
        return part
    lost = _LOST_BOUNDARY.match(payload)
    if lost is None:
        return part
    header = f"Content-Type: {content_type(part)}; {lost.group(1)}\n"
    return email.message_from_string(header + payload[lost.end():], policy=email.policy.compat32)


def notice_text(message: Message) -> str:
    """The human-readable text of the notice (plain, or HTML without tags), up to the returned original."""
    plain, html = [], []
    for part in _top_parts(message):
        kind = content_type(part)
        if kind in ("text/plain", "text/enriched") or (kind == "text/plain" and not message.is_multipart()):
            plain.append(decoded(part))
        elif kind == "text/html":
            html.append(re.sub(r"(?s)<(?:style|script).*?</(?:style|script)>|<[^>]+>", " ",
                               decoded(part)).replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">"))
        elif not message.is_multipart():
            plain.append(decoded(part))
    text = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(html)
    return text.replace("\r\n", "\n")


def cut_original(text: str) -> str:
    """The notice without the copy of the original message an MTA appends below it."""
    mark = _ORIGINAL_MARK.search(text, 1)
    return text[:mark.start()] if mark else text


def returned_original(message: Message) -> Message | None:
    """The returned original message (or its headers), when the bounce carries it as a part."""
    if not message.is_multipart():
        return None
    for part in message.walk():
        kind = content_type(part)
        if kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if kind in ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header"):
            return email.message_from_string(decoded(part), policy=email.policy.compat32)
    return None


def field_blocks(part: Message) -> list[list[tuple[str, str]]]:
    """The header-style field blocks of a report part (delivery-status or feedback-report)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        text = "\n\n".join(p.as_string() if isinstance(p, Message) else str(p) for p in payload)
    else:
        text = decoded(part)
    return field_blocks_of_text(text)


_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*)$")


def field_blocks_of_text(text: str) -> list[list[tuple[str, str]]]:
    """Parse ``Name: value`` blocks separated by blank lines (folded lines joined)."""
    blocks: list[list[tuple[str, str]]] = [[]]
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
            continue
        if line[:1] in " \t" and blocks[-1]:
            name, value = blocks[-1][-1]
            blocks[-1][-1] = (name, f"{value} {line.strip()}")
            continue
        match = _FIELD.match(line)
        if match:
            name = match.group(1).lower()
            if name in ("final-recipient", "original-recipient") and any(n == name for n, _ in blocks[-1]):
                blocks.append([])  # the next recipient's fields, without the blank line between (AOL)
            blocks[-1].append((name, match.group(2).strip()))
    return [block for block in blocks if block]
