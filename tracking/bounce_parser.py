"""What an inbound message to the bounce address is: a bounce, an auto-reply, a complaint, or nothing.

``parse(raw)`` is pure (no database, no app) and never raises. It reads, in this order:

1. ARF complaints (RFC 5965 ``message/feedback-report``; Hotmail's old JMRP reports; Apple Mail's
   unsubscribe message) → ``Kind.COMPLAINT`` with the complained-about recipients.
2. RFC 3464 DSNs (``message/delivery-status``, also when an MTA puts its fields in plain text)
   → ``Kind.BOUNCE``, one ``Failure`` per failed or delayed recipient. A DSN whose recipients were
   all delivered, relayed or expanded is ``Kind.NOTHING``.
3. RFC 3834 auto-replies (Auto-Submitted, X-Autoreply, Precedence, "Automatic reply", 自動応答, 不在)
   → ``Kind.AUTO_REPLY``: never a bounce.
4. The plain-text notices real MTAs send (qmail, Exim, Postfix/Sendmail without a DSN, Gmail, Yahoo,
   Microsoft, Japanese carriers): recognised by named rules, then recipients and the error text
   are read from the notice.

Each failed recipient is classified by ``mailer.replies.classify_bounce`` (DESIGN.md's bounce
rules, shared with the send path's vocabulary): hard, soft, or refused because of the sender.
The VERP token of ``bounce+TOKEN@…`` (``mailer.sending.Batch.return_path``) is read from wherever
the bounce names it; the storage side checks its signature with ``core.tokens.read_mark_token``.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import json
import logging
import re
from dataclasses import dataclass, field, replace
from email.message import Message
from enum import StrEnum
from typing import Any

from mailer.replies import HARD_CODES, Outcome, Stage, classify_bounce, enhanced_code

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024  # a bounce bigger than this is not read (it is kept raw by the caller)
DIAGNOSTIC_CHARS = 500  # how much of the error text a Failure keeps


class Kind(StrEnum):
    """What a message to the bounce address is."""

    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    COMPLAINT = "complaint"
    NOTHING = "nothing"  # not recognised, or a report that something was delivered
    MALFORMED = "malformed"  # could not be read (too big, or a parse error): keep the raw message


class Verdict(StrEnum):
    """What one failed recipient means (DESIGN.md, "Bounce rules")."""

    HARD = "hard"  # the address does not exist: suppress at once
    SOFT = "soft"  # full, policy, spam, temporary: count towards the soft-bounce threshold
    SENDER = "sender"  # refused because of the sender (auth, reputation, blocklisted IP): alert, never suppress


@dataclass(frozen=True)
class Failure:
    """One recipient a bounce reports on."""

    address: str
    verdict: Verdict
    status: str  # RFC 3463 code as reported ("5.1.1"), or the class alone ("5.0.0", "4.0.0")
    diagnostic: str
    temporary: bool = False  # a 4.x.x status: a delay warning, or a final failure for a temporary reason
    delayed: bool = False  # a delay warning: the message is still queued (no bounce yet; a final report follows)


@dataclass(frozen=True)
class Intake:
    """The result of reading one inbound message."""

    kind: Kind
    failures: tuple[Failure, ...] = ()
    complained: tuple[str, ...] = ()  # ARF: the original recipients
    feedback_type: str | None = None  # ARF: abuse, fraud, opt-out, auth-failure …
    token: str | None = None  # VERP token from bounce+TOKEN@…, unverified
    message_id: str | None = None  # Message-ID of the original message, when returned
    rule: str = ""  # which rule recognised it (for logs and the disagreement list)
    reason: str = ""  # why NOTHING or MALFORMED
    extra: dict[str, str] = field(default_factory=dict)


_VERP = re.compile(r"bounce\+((?:[0-9a-f]{1,15}-){1,2}[0-9a-f]{16})@", re.IGNORECASE)  # core.tokens' mark shape
_ADDRESS = re.compile(r"(?:\"[^\"\r\n]{1,64}\"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64})@"
                      r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}"
                      r"[A-Za-z0-9])?)+")
# Daemon addresses, and a list manager's own addresses (RFC 2142/2369 owner-, -request, -ctl, -admin).
_NOT_RECIPIENTS = re.compile(r"^(?:mailer-daemon|postmaster|no-?reply|bounces?|double-bounce|root|owner-[^@]*|"
                             r"[^@]*-(?:request|ctl|admin|owner))@", re.I)
_ORIGINAL_MARK = re.compile(
    r"^\s*(?:[-=_*>]{2,}.*(?:original|copy of|returned|below this line|undelivered message|headers? (?:of|follow))"
    r"|.*(?:original message (?:follows|headers)|the header of the original|this is a copy of the message|"
    r"below this line is a copy|unsent message below|元のメッセージ|以下.{0,10}(?:原文|元の))|"
    r"original-?message:|content-type: message/rfc822|return-path:\s*<|received: from \S+ \()",
    re.IGNORECASE | re.MULTILINE)


def parse(raw: bytes) -> Intake:
    """Say what an inbound message is. Never raises: an unreadable one is ``Kind.MALFORMED`` with the reason."""
    if len(raw) > MAX_BYTES:
        return Intake(Kind.MALFORMED, reason=f"larger than {MAX_BYTES} bytes ({len(raw)}): not read")
    try:
        return _parse(raw)
    except Exception as error:  # noqa: BLE001 - a bounce must never crash intake; the caller keeps the raw message
        log.warning("bounce intake could not read a message of %d bytes: %r", len(raw), error)
        return Intake(Kind.MALFORMED, reason=f"parse error: {type(error).__name__}: {error}")


def _parse(raw: bytes) -> Intake:  # noqa: PLR0911 - one return per kind of message, in reading order
    if not raw.strip():
        return Intake(Kind.MALFORMED, reason="empty message")
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if not message.keys():
        return Intake(Kind.MALFORMED, reason="no headers: not an email message")
    token = _verp_token(raw)
    original = _original(message)
    message_id = _clean(original.get("Message-ID", "")).strip("<>") or None if original is not None else None
    complaint = _complaint(message, original)
    if complaint is not None:
        return Intake(Kind.COMPLAINT, complained=complaint[0], feedback_type=complaint[1], token=token,
                      message_id=message_id, rule=complaint[2])
    text = _notice_text(message)
    ses = _amazon_ses_notification(message, text, token, message_id)
    if ses is not None:
        return ses
    report = _delivery_status(message, text)
    if report is not None:
        reported, dsn_rule = report
        if not reported:
            return Intake(Kind.NOTHING, token=token, message_id=message_id, rule=dsn_rule,
                          reason="a delivery report: every recipient delivered, relayed or expanded")
        return Intake(Kind.BOUNCE, failures=_as_reported(message, original, text, reported), token=token,
                      message_id=message_id, rule=dsn_rule)
    challenge = _challenge(message, text)
    if challenge is not None:
        return Intake(Kind.AUTO_REPLY, token=token, message_id=message_id, rule=challenge,
                      reason="challenge-response: the reader's filter asks the sender to confirm; nothing failed")
    rule = _plain_bounce_rule(message, text)
    auto = _auto_reply(message)
    from_daemon = bool(_BOUNCE_SENDER.search(_clean(message.get("From", ""))))
    # MTAs mark their own notices Auto-Submitted too: wording alone does not outweigh the header, but
    # wording with the refusal it reports (an SMTP reply or status code) does, whoever sent it
    if auto and (rule is None or (rule in _WEAK_RULES and not from_daemon and not _quotes_refusal(text))):
        return Intake(Kind.AUTO_REPLY, token=token, message_id=message_id, rule=auto)
    if rule is None:
        return Intake(Kind.NOTHING, token=token, message_id=message_id, reason="not a bounce, reply or complaint")
    failures = _plain_failures(message, original, text)
    if not failures:
        return Intake(Kind.NOTHING, token=token, message_id=message_id, rule=rule,
                      reason="looks like a bounce but names no recipient")
    return Intake(Kind.BOUNCE, failures=_as_reported(message, original, text, failures), token=token,
                  message_id=message_id, rule=rule)


def _as_reported(message: Message, original: Message | None, text: str,
                 failures: tuple[Failure, ...]) -> tuple[Failure, ...]:
    """The failures as the whole report qualifies them: who wrote it, and which address a reply refused."""
    return _refusing_the_sender(original, _as_appliance_says(message, text, failures))


# Sendmail-style replies name the address they refused: "550 5.7.1 <a@b>... Access denied". When that
# is the returned message's envelope sender (its Return-Path; ours is bounce+TOKEN@), the refusal is
# about the sender, whoever the recipient was: it alerts, and never suppresses the recipient.
_REFUSED_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s]+)>\s?\.\.\.")


def _refusing_the_sender(original: Message | None, failures: tuple[Failure, ...]) -> tuple[Failure, ...]:
    senders = set(_addresses(_clean(original.get("Return-Path", "")))) if original is not None else set()

    def names_sender(failure: Failure) -> bool:
        refused = [m.group(1).lower() for m in _REFUSED_ADDRESS.finditer(failure.diagnostic)]
        return any(address in senders or _VERP.match(address) for address in refused if address != failure.address)

    return tuple(replace(f, verdict=Verdict.SENDER) if not f.temporary and names_sender(f) else f for f in failures)


# Mail-filtering appliances in front of a mail server write "user unknown" for mail their filters
# refused too: their words alone (with a generic code such as 5.0.0) do not suppress an address at
# once (soft: suppressed when repeated); their 5.1.1 does. They are known by the headers they add.
_APPLIANCE_HEADERS = (("X-AHMAILID", re.compile("")),  # ActiveHunter
                      ("X-NAI-Header", re.compile("mcafee", re.I)),
                      ("X-Mailer", re.compile(r"surfcontrol|m-filter", re.I)),
                      ("From", re.compile(r"@[\w.-]*mxlogic\.net|mail deliver system", re.I)))
# ... or by their notice: X1's "---The following addresses had delivery errors---" over "a@b [User unknown]"
# lines (whatever From name it is sent under; Sendmail's own heading has spaces and says "permanent fatal").
_APPLIANCE_NOTICE = re.compile(r"^-{3}The following addresses had delivery errors-{3}\s*$", re.MULTILINE)


def _as_appliance_says(message: Message, text: str, failures: tuple[Failure, ...]) -> tuple[Failure, ...]:
    if not any(name in message and pattern.search(_clean(message[name])) for name, pattern in _APPLIANCE_HEADERS) \
            and not _APPLIANCE_NOTICE.search(text):
        return failures
    return tuple(replace(f, verdict=Verdict.SOFT) if f.verdict == Verdict.HARD and f.status not in HARD_CODES else f
                 for f in failures)


# --- reading the message --------------------------------------------------------------------------------------

def _clean(value: object) -> str:
    """A header value as one line of text (RFC 2047 words decoded)."""
    text = str(value or "")
    try:
        text = str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        pass
    return " ".join(text.split())


def _content_type(part: Message) -> str:
    """A part's MIME type, also when its parameters follow on a folded line without a ';' (X1's notices)."""
    kind = part.get_content_type().split()
    return kind[0].rstrip(";") if kind else "text/plain"


def _decoded(part: Message) -> str:
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
        if _content_type(part) == "message/rfc822":
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
    header = f"Content-Type: {_content_type(part)}; {lost.group(1)}\n"
    return email.message_from_string(header + payload[lost.end():], policy=email.policy.compat32)


def _notice_text(message: Message) -> str:
    """The human-readable text of the notice (plain, or HTML without tags), up to the returned original."""
    plain, html = [], []
    for part in _top_parts(message):
        kind = _content_type(part)
        if kind in ("text/plain", "text/enriched") or (kind == "text/plain" and not message.is_multipart()):
            plain.append(_decoded(part))
        elif kind == "text/html":
            html.append(re.sub(r"(?s)<(?:style|script).*?</(?:style|script)>|<[^>]+>", " ",
                               _decoded(part)).replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">"))
        elif not message.is_multipart():
            plain.append(_decoded(part))
    text = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(html)
    return text.replace("\r\n", "\n")


def _cut_original(text: str) -> str:
    """The notice without the copy of the original message an MTA appends below it."""
    mark = _ORIGINAL_MARK.search(text, 1)
    return text[:mark.start()] if mark else text


def _original(message: Message) -> Message | None:
    """The returned original message (or its headers), when the bounce carries it as a part."""
    if not message.is_multipart():
        return None
    for part in message.walk():
        kind = _content_type(part)
        if kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if kind in ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header"):
            return email.message_from_string(_decoded(part), policy=email.policy.compat32)
    return None


def _verp_token(raw: bytes) -> str | None:
    """The token of the first ``bounce+TOKEN@`` address anywhere in the message (To, returned headers)."""
    return verp_token(raw[:MAX_BYTES].decode("latin-1"))


def verp_token(text: str) -> str | None:
    """The token of the first ``bounce+TOKEN@`` address in a text (unverified: record() checks its signature)."""
    match = _VERP.search(text)
    return match.group(1).lower() if match else None


# What gateways write before or around an address: "SMTP=a@b" (Exchange's proxy addresses, X.400's
# "dda:SMTP=a@b"), "smtp:a@b", "rfc822;a@b", "'a@b'" (Exchange's NDR quotes each recipient). A quote or
# apostrophe is an RFC 5322 local-part character, so the address pattern takes them in: they come off here.
_WRAPPED = re.compile(r"^(?:['`]+|(?:smtp|rfc-?822|dda|mailto)[=:;])+", re.IGNORECASE)


def _addresses(text: str) -> list[str]:
    """Addresses in a piece of text, in order, once each (case-folded, without a gateway's prefix or quotes)."""
    seen: dict[str, None] = {}
    for match in _ADDRESS.finditer(text):
        seen.setdefault(_WRAPPED.sub("", match.group(0).lower()), None)
    return [address for address in seen if not address.startswith("@")]


# --- Amazon SES notifications delivered by mail (SNS email subscription) -----------------------------------

def _amazon_ses_notification(message: Message, text: str, token: str | None, message_id: str | None) -> Intake | None:
    """A bounce or complaint from Amazon SES's JSON notification (as SNS mails it), or None."""
    if "amazonaws.com" not in _clean(message.get("From", "")).lower() or "notificationType" not in text:
        return None
    notice = _json_object(text[text.find("{"):])
    if notice is not None and isinstance(notice.get("Message"), str):  # an SNS envelope around the notification
        notice = _json_object(notice["Message"])
    if notice is None:
        return None
    return ses_notification(notice, token, message_id)


def ses_notification(notice: dict[str, Any], token: str | None, message_id: str | None) -> Intake | None:
    """A bounce or complaint from one Amazon SES notification (mailed, or posted to tracking/webhooks.py), or None."""
    kind = notice.get("notificationType") or notice.get("eventType")
    if kind == "Complaint":
        complaint = notice.get("complaint", {})
        recipients = tuple(str(r.get("emailAddress", "")).lower() for r in complaint.get("complainedRecipients", []))
        return Intake(Kind.COMPLAINT, complained=recipients, token=token, message_id=message_id,
                      feedback_type=complaint.get("complaintFeedbackType") or "abuse", rule="amazon-ses")
    if kind != "Bounce":
        return None
    bounce = notice.get("bounce", {})
    temporary = bounce.get("bounceType") == "Transient"
    failures = []
    for recipient in bounce.get("bouncedRecipients", []):
        diagnostic = str(recipient.get("diagnosticCode", "")) or str(bounce.get("bounceSubType", ""))
        status = enhanced_code(str(recipient.get("status", ""))) or ("4.0.0" if temporary else "5.0.0")
        # SES notifies a bounce once it has stopped trying: a Transient one is a soft bounce, not a delay warning.
        failures.append(replace(_failure(str(recipient.get("emailAddress", "")).lower(), status, diagnostic),
                                temporary=False))
    return Intake(Kind.BOUNCE, failures=tuple(failures), token=token, message_id=message_id, rule="amazon-ses")


def provider_failure(address: str, status: str | None, text: str, temporary: bool = False) -> Failure:
    """Classify one recipient a sending provider's webhook reports on: its status code if any, and its error text."""
    return _failure(address.strip().lower(), enhanced_code(status or ""), text, delayed=temporary)


def _json_object(text: str) -> dict[str, Any] | None:
    """The JSON object a text starts with, also when a mailer folded its long line (raw line breaks in strings)."""
    decoder = json.JSONDecoder(strict=False)  # strict=False: a folded string keeps its line break, and still parses
    for candidate in (text, re.sub(r"\r?\n[ \t]", "", text)):  # folded between tokens or inside a number
        try:
            found, _ = decoder.raw_decode(candidate)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return None


# --- ARF complaints ---------------------------------------------------------------------------------------------

def _complaint(message: Message, original: Message | None) -> tuple[tuple[str, ...], str, str] | None:
    """(recipients, feedback type, rule) for a complaint, or None."""
    for part in message.walk():
        if _content_type(part) == "message/feedback-report":
            fields = _fields_blocks(part)
            merged = [item for block in fields for item in block]
            feedback = next((v for k, v in merged if k == "feedback-type"), "abuse").lower()
            recipients = [v for k, v in merged if k in ("original-rcpt-to", "removal-recipient")]
            if not recipients and original is not None:
                recipients = _addresses(_clean(original.get("To", "")))
            return tuple(_addresses(" ".join(recipients))), feedback, "arf"
    subject = _clean(message.get("Subject", "")).lower()
    sender = _clean(message.get("From", "")).lower()
    if original is not None and original.get("X-HmXmrOriginalRecipient") and "complaint about message" in subject:
        return tuple(_addresses(original["X-HmXmrOriginalRecipient"])), "abuse", "hotmail-jmrp"
    if message.get("X-Apple-Unsubscribe", "").strip().lower() == "true" and "icloud.com" in sender:
        return tuple(_addresses(_clean(message.get("From", "")))), "opt-out", "apple-unsubscribe"
    return None


def _fields_blocks(part: Message) -> list[list[tuple[str, str]]]:
    """The header-style field blocks of a report part (delivery-status or feedback-report)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        text = "\n\n".join(p.as_string() if isinstance(p, Message) else str(p) for p in payload)
    else:
        text = _decoded(part)
    return _field_blocks_of_text(text)


_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*)$")


def _field_blocks_of_text(text: str) -> list[list[tuple[str, str]]]:
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


# --- RFC 3464 delivery status notifications ---------------------------------------------------------------------

_DSN_IN_TEXT = re.compile(r"^(?:final|original)-recipient:", re.IGNORECASE | re.MULTILINE)


def _delivery_status(message: Message, text: str) -> tuple[tuple[Failure, ...], str] | None:
    """Failures from a DSN's per-recipient fields, or None when the message has no DSN fields."""
    blocks = None
    rule = "rfc3464"
    for part in message.walk():
        if _content_type(part) in ("message/delivery-status", "message/global-delivery-status"):
            blocks = _fields_blocks(part)
            break
    if blocks is None:
        if not _DSN_IN_TEXT.search(text):
            return None
        blocks, rule = _field_blocks_of_text(text), "rfc3464-in-text"
    notice = _cut_original(text)
    failures: list[Failure] = []
    recipients = 0
    everyone = [_dsn_recipient(dict(block)) for block in blocks]
    for block, address in zip(blocks, everyone, strict=True):
        fields = dict(block)
        if not address:
            continue
        recipients += 1
        action = fields.get("action", "failed").lower().split()[0] if fields.get("action") else "failed"
        if action in ("delivered", "relayed", "expanded") or fields.get("status", "").strip().startswith("2"):
            continue
        diagnostic = _diagnostic_code(fields.get("diagnostic-code", ""))
        status = _status(fields.get("status", ""), diagnostic)
        reply = _FAILURE_CODE.search(diagnostic)
        if action == "failed" and status.startswith("4") and reply and reply.group(1) == "5":
            status = ".".join(reply.groups())  # "failed" with a 4.x status: the remote's own 5xx reply decides
        about = _around(notice, address, everyone) or notice
        context = diagnostic or about
        stated = "" if diagnostic else _preamble(notice, everyone)
        failures.append(_failure(address, status, context, delayed=action == "delayed",
                                 notice=about, stated=stated))
    if not recipients:
        if rule == "rfc3464-in-text":
            return None
        # the notice's own words may name them; the returned message's To: names whom it was sent to, not
        # who failed (a list, a colleague in Cc), so it is not read
        plain = _plain_failures(message, _original(message), text, returned_to=False)
        return (plain, "rfc3464-without-recipients") if plain else None
    return tuple(failures), rule


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
    found = _addresses(address)
    return found[0] if found else ""


_X400_RFC822 = re.compile(r"(?:dda:\s*smtp|rfc-?822)\s*=\s*([^/;\s]+)", re.IGNORECASE)


def _x400_address(value: str) -> str:
    """The RFC 822 address an X.400 name carries as a domain-defined attribute, or ""."""
    match = _X400_RFC822.search(value)
    found = _addresses(match.group(1).replace("(a)", "@")) if match else []
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


# --- RFC 3834 auto-replies -----------------------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"auto(?:matic)?[ -]?(?:reply|response|respons|antwort|réponse)|out of (?:the )?office|away from|"
    r"on vacation|vacation reply|abwesenheit|absence|自動応答|自動返信|自動返答|不在", re.IGNORECASE)


def _auto_reply(message: Message) -> str | None:
    """The rule that says a message is an auto-reply (RFC 3834 and common practice), or None."""
    submitted = message.get("Auto-Submitted", "").strip().lower()
    if submitted.startswith("auto-replied"):
        return "rfc3834-auto-submitted"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Vacation"):
        if message.get(name):
            return f"header-{name.lower()}"
    if message.get("X-Auto-Response-Suppress") and message.get("In-Reply-To") is None \
            and _AUTO_SUBJECT.search(_clean(message.get("Subject", ""))):
        return "microsoft-automatic-reply"
    if _AUTO_SUBJECT.search(_clean(message.get("Subject", ""))):
        return "subject"
    if message.get("Precedence", "").strip().lower() == "auto_reply":
        return "precedence-auto-reply"
    return None


# --- challenge-response mail ------------------------------------------------------------------------------

# A reader's challenge-response filter (TMDA, Boxbe, SpamArrest, ChoiceMail, Mailblocks …) holds mail
# from unknown senders and asks them to confirm: nothing failed and the address exists. It often
# borrows a bounce's words ("will not be delivered", "mail delivery software"), so it is read first.
_CHALLENGE_WORDS = re.compile(
    r"not (?:been )?pre-?approved|(?:list of )?approved senders|"
    r"(?:confirm|verify|prove)(?: that)? you(?:'re| are) (?:a )?(?:human|person|real|not a (?:robot|spammer|machine))|"
    r"(?:address|message|e-?mail) has not (?:yet )?been (?:verified|confirmed)|to release your (?:message|e-?mail)|"
    r"(?:guest|waiting) list|challenge[- ]response|spam ?arrest|\bboxbe\b|\btmda\b|choicemail|mailblocks|"
    r"(?:held|waiting) (?:for|pending|until) (?:your )?(?:confirmation|verification|approval)|"
    r"please confirm your (?:message|e-?mail|address)|verify your (?:e-?mail )?address to (?:deliver|release)|"
    r"送信者(?:の)?(?:確認|認証)|承認(?:された|済みの)送信者",
    re.IGNORECASE)


def _challenge(message: Message, text: str) -> str | None:
    """The rule that says a message is a challenge-response filter's request to confirm, or None."""
    if any(name.lower().startswith(("x-boxbe", "x-tmda", "x-spamarrest")) for name in message.keys()) \
            or "tmda" in message.get("X-Delivery-Agent", "").lower():
        return "challenge-response-header"
    if _quotes_refusal(text):  # a failure report that happens to use the words is still one
        return None
    if _CHALLENGE_WORDS.search(f"{_clean(message.get('Subject', ''))}\n{_cut_original(text)}"):
        return "challenge-response"
    return None


# --- plain-text notices --------------------------------------------------------------------------------------

# Named rules: what in a message says an MTA wrote it to report a failure. Order does not matter.
_PLAIN_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
    ("qmail", r"this is the qmail-send program|i'm afraid i wasn'?t able to deliver your message"),
    ("exim", r"this message was created automatically by mail delivery software|"
             r"could not be delivered to (?:one or more|all) of its\s+recipients|following address\(es\) failed|"
             r"recipient addresses that were\s+incorrectly constructed"),  # Exim's "malformed recipient address"
    ("postfix", r"this is the mail system at host|i'm sorry to have to inform you that your message"),
    ("sendmail", r"-{3,} ?the following addresses? had (?:permanent |delivery )?(?:fatal )?errors|"
                 r"-{3,} transcript of session follows"),
    ("gmail", r"delivery to the following recipients? failed|technical details of (?:permanent|temporary) failure|"
              r"the error that the other server returned was|address not found"),
    ("yahoo", r"sorry, we were unable to deliver your message to the following address|"
              r"message not delivered|remote host said:"),
    ("microsoft", r"delivery has failed to these recipients or groups|your message (?:couldn'?t|wasn'?t) be delivered|"
                  r"did not reach the following recipient|could not be delivered to the recipient|"
                  r"diagnostic information for administrators"),
    ("apache-james", r"error message below:\s*\n\s*[45]\d\d\b"),  # James' bounce mailet (Verizon's vtext gateway)
    ("fml", r"you are not a member of this mailing list|duplicated message-id in <"),  # fml's list refusals
    ("postfix-smtpd", r"transcript of session follows\.?\s*\n\s*out: 220"),  # Postfix's notice of an SMTP error
    ("google-groups", r"google groups? (?:tried|couldn'?t)|groups\.google\.com/support|"
                      r"you do not have permission to post"),
    ("generic-en", r"undeliverable|undelivered mail|delivery (?:status notification|failure|failed|has failed)|"
                   r"returned mail|mail delivery (?:failed|subsystem|system)|failure notice|could not be delivered|"
                   r"permanent (?:error|failure)|unable to deliver|message (?:was )?not delivered|"
                   r"non[- ]?delivery|nondeliverable|delivery problem|not (?:be )?delivered|"
                   r"trouble delivering|error (?:sending|delivering) your (?:mail|message)"),
    ("japanese-carrier", r"宛先.{0,20}(?:見つかりません|存在しません|届きません)|配信(?:できません|出来ません|に失敗)|"
                         r"送信(?:できません|出来ません|に失敗)|届きませんでした|エラー|不明なアドレス"),
))
_WEAK_RULES = {"generic-en", "japanese-carrier"}  # wording an auto-reply may also use
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery|mailer|daemon|bounce|mail ?administrator|"
                            r"nobody@|root@|system administrator", re.IGNORECASE)


def _plain_bounce_rule(message: Message, text: str) -> str | None:
    """Name the rule that recognises a plain-text delivery-failure notice, or None."""
    notice = _cut_original(text)
    subject = _clean(message.get("Subject", ""))
    sender = _clean(message.get("From", ""))
    haystack = f"{subject}\n{notice}"
    for name, pattern in _PLAIN_RULES:
        if name == "generic-en" and not (_BOUNCE_SENDER.search(sender) or message.get("Return-Path", "") == "<>"
                                         or message.get("X-Failed-Recipients") or _quotes_refusal(notice)):
            continue
        if pattern.search(haystack):
            return name
    if message.get("X-Failed-Recipients"):
        return "x-failed-recipients"
    return None


def _quotes_refusal(text: str) -> bool:
    """Whether a notice quotes the refusal it reports: an SMTP failure reply with an RFC 3463 status."""
    return bool(re.search(r"\b[45]\d\d[ -]#?[45]\.\d{1,3}\.\d{1,3}\b", _cut_original(text)))


_TEMPORARY = re.compile(r"\b(?:temporar\w+ (?:failure|error|problem)|delayed|will (?:retry|try again|keep trying)|"
                        r"not yet been delivered|"
                        r"still trying|warning: message)\b", re.IGNORECASE)
_PERMANENT = re.compile(r"permanent|given up|gave up|failed permanently|could not be delivered", re.IGNORECASE)
_REPLY = re.compile(r"\b([245])\d\d[ ,-]")
_FAILURE_REPLY = re.compile(r"\b([45])\d\d[ ,-]")  # a refusal, not the 2xx/3xx lines of a transcript
_FAILURE_CODE = re.compile(r"\b([45])\.(\d{1,3})\.(\d{1,3})\b")


# Where a notice names the recipient it failed for: a line that starts with the address (qmail's "<a@b>:",
# Sendmail's "a@b... reason", X1's "a@b [reason]"), or a sentence "… delivering your mail to <a@b>".
_NAMED_RECIPIENT = re.compile(
    r"^[ \t]*<?([^\s<>@]+@[^\s<>]+?)>?(?::|\.\.\.|[ \t]+\[|[ \t]*$)"
    r"|(?:deliver\w*|send\w*|sent)[ \t]+(?:(?:your|the)[ \t]+)?(?:mail|message)?[ \t]*to[ \t]+<([^\s<>@]+@[^\s<>]+)>",
    re.IGNORECASE | re.MULTILINE)


_MESSAGE_ID_LINE = re.compile(r"^[> \t]*message-id:[ \t]*\S+", re.IGNORECASE | re.MULTILINE)
_SENT_LINE = re.compile(r"^[ \t]*sent:[ \t]", re.IGNORECASE | re.MULTILINE)  # Exchange's summary of the original
_SUMMARY_LINE = re.compile(r"^[ \t]*(?:to|cc):[ \t]*.*$", re.IGNORECASE | re.MULTILINE)
_ENVELOPE_SENDER = re.compile(r"(?:mail from|envelope-from|from)[:\s]*<[^>]*>|^[ \t]*(?:mail )?from:[ \t]*\S+@\S+",
                              re.IGNORECASE | re.MULTILINE)


def _plain_failures(message: Message, original: Message | None, text: str, *,
                    returned_to: bool = True) -> tuple[Failure, ...]:
    """Failed recipients named by a plain-text notice, each with the text about it (``returned_to``: when the
    notice names none, the one recipient its returned message was sent to)."""
    notice = _cut_original(text)
    senders = set(_addresses(" ".join(_clean(message.get(h, "")) for h in ("From", "To", "Reply-To", "Return-Path",
                                                                            "Delivered-To", "X-Original-To"))))
    if original is not None:
        senders |= set(_addresses(" ".join(_clean(original.get(h, "")) for h in ("From", "Return-Path", "Sender"))))
        senders |= set(_addresses(_clean(original.get("Message-ID", ""))))
    senders |= set(_addresses(" ".join(_ENVELOPE_SENDER.findall(notice))))
    senders |= set(_addresses(" ".join(_MESSAGE_ID_LINE.findall(notice))))  # a quoted Message-Id is not an address
    senders |= _help_addresses(notice)
    header = message.get_all("X-Failed-Recipients") or []
    candidates = _addresses(" ".join(_clean(h) for h in header))
    if not candidates:
        candidates = [a for a in _addresses(notice) if a not in senders and not _NOT_RECIPIENTS.match(a)
                      and not _VERP.match(a)]
    summary = set(_addresses(" ".join(_SUMMARY_LINE.findall(notice))))
    # Exchange's "To:" summary of the original names every recipient, not only the failed ones
    if candidates and set(candidates) - summary and _SENT_LINE.search(notice):
        candidates = [a for a in candidates if a not in summary]
    if not candidates:  # the notice's own recipient slot, even when the address is also in a header (sent to self)
        candidates = _addresses(" ".join(m.group(1) or m.group(2) for m in _NAMED_RECIPIENT.finditer(notice)))
    if not candidates and returned_to and original is not None:
        candidates = _addresses(_clean(original.get("To", "")))
    if not candidates and returned_to:
        copied = _addresses(" ".join(re.findall(r"(?im)^to:\s*(.*)$", text[len(notice):])))
        candidates = copied[:1]
    failures = []
    for address in candidates:
        context = (_around(notice, address, candidates) if len(candidates) > 1 else "") or notice
        failures.append(_failure(address, None, context))
    return tuple(failures)


# A notice's help text: whom to write to about it (a help desk, support, the postmaster). An address that
# follows such words in the same sentence is where to ask, never a recipient that failed.
_HELP_WORDS = re.compile(r"\b(?:contact|write to|send (?:e-?)?mail to|e-?mail us|mail us|reply to|ask us|"
                         r"help ?desk|support|assistance|questions?|inquir\w+|enquir\w+|administrator)\b|"
                         r"問い?合わ?せ|連絡先|窓口|サポート", re.IGNORECASE)
_HELP_REACH = 160  # how far after the words their address may be (a sentence, folded)
_SENTENCE_END = re.compile(r"[.!?。](?:\s|$)|\n[ \t]*\n|\n[ \t]*<?[\w.+-]+@|\n[ \t]*[245]\d\d\b")


def _help_addresses(notice: str) -> set[str]:
    """The addresses a notice gives to write to for help."""
    found: set[str] = set()
    for words in _HELP_WORDS.finditer(notice):
        after = notice[words.end():words.end() + _HELP_REACH]
        end = _SENTENCE_END.search(after)
        found.update(_addresses(after[:end.start()] if end else after))
    return found


def _around(notice: str, address: str, others: list[str]) -> str:
    """The notice's text about one address: from the line naming it to the line naming another recipient."""
    lowered = notice.lower()
    start = lowered.find(address)
    if start < 0:
        return ""
    start = lowered.rfind("\n", 0, start) + 1
    after = start + len(address)
    ends = [lowered.find(other, after) for other in others if other != address and other not in address]
    end = min([e for e in ends if e >= 0], default=len(notice))
    return notice[start:lowered.rfind("\n", start, end) + 1 if lowered.rfind("\n", start, end) > start else end]


# A notice's own statement that the account exists but takes no mail now.
_ACCOUNT_STATE = re.compile(r"\b(?:account|mailbox)(?:es|s)? (?:is|are|was|has been) (?:temporarily )?(?:disabled|"
                            r"suspended|deactivated|inactive|locked|frozen|full|over (?:its )?quota)", re.IGNORECASE)


def _preamble(notice: str, recipients: list[str]) -> str:
    """What a notice says before it names its first recipient: where an MTA states the reason in its own words
    (au's "The user(s) account is disabled." above the "550 user unknown" its mail server answered)."""
    lowered = notice.lower()
    first = min([i for i in (lowered.find(a) for a in recipients if a) if i >= 0], default=len(notice))
    return notice[:first]


# A virus or spam scanner's banner in a notice ("scanned for viruses and spam by …", a "[spam and virus
# filter]" tag on the reply) names what the gateway is, not why this recipient failed: it is not read.
_SCANNER_BANNER = re.compile(
    r"\b(?:scanned|checked|filtered|protected|inspected)\b[^\n.]{0,40}\b(?:virus|viruses|spam|malware)\b[^\n]*|"
    r"\b(?:virus|viruses|spam|anti-?spam|anti-?virus)(?: and | ?& ?| ?/ ?)(?:virus|viruses|spam|content)\s+"
    r"(?:scanner|filter|gateway|protection|security)\b[^\n.]*|"
    r"\b(?:spam|viruses)\b and virus-infected messages are blocked\.?",
    re.IGNORECASE)
# A refusal for the message's size is soft whatever code it came with (RFC 3463 5.2.3, 5.3.4; a 552).
_SIZE_CODES = {"5.2.3", "5.3.4", "4.2.3", "4.3.4"}
_SIZE_REFUSAL = re.compile(r"(?:message|mail|size)\b[^.\n]{0,20}\bsize (?:limit )?exceed|"
                           r"message size exceeded|size exceeds|exceeds? (?:the )?(?:maximum|fixed|permitted)?\s*"
                           r"(?:message )?size|message (?:is )?too (?:big|large)|メッセージ(?:の)?サイズ",
                           re.IGNORECASE)
# Japanese carriers and servers say in Japanese that the address does not exist (or is full, or refused).
_JAPANESE_NO_SUCH_ADDRESS = re.compile(r"(?:宛先|あて先|アドレス|ユーザー?|受信者|メールボックス)[^。\n]{0,12}"
                                       r"(?:見つかりません|存在しません|不明|ありません)|存在しない(?:アドレス|ユーザー?)")
_JAPANESE_SOFT = re.compile(r"容量|満杯|一杯|いっぱい|受信拒否|拒否|制限|一時的|混雑")


def _failure(address: str, status: str | None, context: str, *, delayed: bool = False, notice: str = "",
             stated: str = "") -> Failure:
    """Classify what a notice says about one recipient (``context``; ``notice``: the human text around it;
    ``stated``: what the notice says before naming any recipient, when the report quotes no reply)."""
    if status is None:
        coded = _FAILURE_CODE.search(context)
        code = ".".join(coded.groups()) if coded else None
        reply = _FAILURE_REPLY.search(context)
        if code:
            status = code
        elif reply:
            status = f"{reply.group(1)}.0.0"
        elif _TEMPORARY.search(context) and not _PERMANENT.search(context):
            status, delayed = "4.0.0", True  # "will retry", "only a warning": the message is still queued
        else:
            status = "5.0.0"
    if delayed and not status.startswith("4"):
        status = "4" + status[1:]
    refusal = _SCANNER_BANNER.sub(" ", _refusal_text(context))
    outcome = classify_bounce(status, refusal, _stage(context) or _stage(notice))
    if outcome is Outcome.HARD_BOUNCE and _ACCOUNT_STATE.search(" ".join(stated.split())):
        outcome = Outcome.FAILED  # the MTA says the account exists but is disabled (or full): not gone
    if outcome is Outcome.FAILED and _JAPANESE_NO_SUCH_ADDRESS.search(refusal) and not _JAPANESE_SOFT.search(refusal):
        outcome = Outcome.HARD_BOUNCE
    if outcome in (Outcome.HARD_BOUNCE, Outcome.SENDER_REJECTED) \
            and (status in _SIZE_CODES or _SIZE_REFUSAL.search(" ".join(refusal.split()))):
        # the message was too big: not the address wrong (some MTAs say 5.1.1 to it), nor the sender
        # refused (a SIZE= too big is refused at MAIL FROM)
        outcome = Outcome.FAILED
    verdict = {Outcome.HARD_BOUNCE: Verdict.HARD, Outcome.SENDER_REJECTED: Verdict.SENDER}.get(outcome, Verdict.SOFT)
    return Failure(address=address, verdict=verdict, status=status, diagnostic=_diagnostic_line(context),
                   temporary=status.startswith("4"), delayed=delayed)


_STAGE_WORDS = re.compile(r"(?:in reply to|after|error following)\s+(?:the\s+)?(?:end of\s+)?"
                          r"(data|mail from|rcpt to|rcpt)\b"
                          # qmail-remote's own sentences for a refusal at MAIL FROM, RCPT TO and after DATA
                          r"|but (sender) was rejected|does not like (recipient)|failed (after i sent the message)",
                          re.IGNORECASE)
_REFUSAL_LINE = re.compile(r"^\s*(?:<<<|out:)\s*[45]\d\d", re.IGNORECASE | re.MULTILINE)
_COMMAND_LINE = re.compile(r"^\s*(?:>>>|in:)\s*(data|mail from|rcpt to)\b", re.IGNORECASE | re.MULTILINE)
_STAGES = {"data": Stage.DATA, "mail from": Stage.MAIL, "rcpt to": Stage.RCPT, "rcpt": Stage.RCPT,
           "sender": Stage.MAIL, "recipient": Stage.RCPT, "after i sent the message": Stage.DATA}


def _stage(context: str) -> Stage | None:
    """Which SMTP command the refusal answered, when the notice says (Postfix, Exim, a Sendmail transcript)."""
    match = _STAGE_WORDS.search(context)
    if match is None:  # a transcript: the last command before the first refusal
        refusal = _REFUSAL_LINE.search(context)
        commands = list(_COMMAND_LINE.finditer(context, 0, refusal.start())) if refusal else []
        match = commands[-1] if commands else None
    return _STAGES[" ".join(next(g for g in match.groups() if g).lower().split())] if match else None


def _refusal_text(context: str) -> str:
    """What to classify: the first refusal (a line with a 4xx/5xx reply, the line before it, and the line after
    when that is not another reply),
    so that a later clause elsewhere in the notice (a retry of another host, a scanner's header,
    a hedge) does not outweigh the recipient's own refusal. The whole context when it quotes no refusal."""
    lines = context.splitlines()
    coded = [bool(_FAILURE_REPLY.search(line + " ") or _FAILURE_CODE.search(line)) for line in lines]
    for number, line in enumerate(lines):
        if coded[number]:
            after = lines[number + 1:number + 2] if number + 1 < len(lines) and not coded[number + 1] else []
            return "\n".join([*lines[max(0, number - 1):number], line, *after])
    return context


def _diagnostic_line(context: str) -> str:
    """The most telling part of the error text: the lines with an SMTP reply, else the whole, shortened."""
    lines = [line.strip() for line in context.splitlines() if line.strip()]
    coded = [line for line in lines if _REPLY.search(line + " ") or enhanced_code(line)]
    chosen = " ".join(coded or lines)
    return chosen[:DIAGNOSTIC_CHARS]
