"""What an inbound message to the bounce address is: a bounce, an auto-reply, a complaint, or nothing.

``parse(raw)`` is pure (no database, no app) and never raises. It reads, in this order:

1. ARF complaints (``arf``: RFC 5965 ``message/feedback-report``; Hotmail's old JMRP reports; Apple
   Mail's unsubscribe message) → ``Kind.COMPLAINT`` with the complained-about recipients.
2. Amazon SES notifications mailed by SNS (``ses``).
3. RFC 3464 DSNs (``dsn``: ``message/delivery-status``, also when an MTA puts its fields in plain
   text) → ``Kind.BOUNCE``, one ``Failure`` per failed or delayed recipient, named by its
   Final-Recipient when that is an internet address, else its Original-Recipient. A DSN whose
   recipients were all delivered, relayed or expanded is ``Kind.NOTHING``.
4. Challenge-response filters asking the sender to confirm (``autoreply``) → ``Kind.AUTO_REPLY``.
5. RFC 3834 auto-replies (``autoreply``: Auto-Submitted, X-Autoreply, Precedence, "Automatic reply",
   自動応答, 不在) → ``Kind.AUTO_REPLY``: never a bounce, unless it quotes the refusal it reports.
6. The plain-text notices real MTAs, gateways and scanners send (``notices``: qmail, Exim,
   Postfix/Sendmail without a DSN, Exchange, Notes, GroupWise, Gmail, Yahoo, Japanese carriers …):
   recognised by named rules, then recipients (``addresses``: never a help desk's) and the error
   text are read from the notice.

Each failed recipient is classified (``verdict``) by ``mailer.replies.classify_bounce`` (docs/architecture.md's
bounce rules, shared with the send path's vocabulary): hard, soft, or refused because of the sender.
The VERP token of ``bounce+TOKEN@…`` (``mailer.message.SendContext.return_path``) is read from wherever
the bounce names it; the storage side checks its signature with ``core.tokens.read_mark_token``.
"""

from __future__ import annotations

import email
import email.policy
import logging

from tracking.bounce_parser.addresses import verp_token
from tracking.bounce_parser.arf import complaint
from tracking.bounce_parser.autoreply import auto_reply, challenge
from tracking.bounce_parser.dsn import delivery_status
from tracking.bounce_parser.message import clean, notice_text, returned_original
from tracking.bounce_parser.model import DIAGNOSTIC_CHARS, MAX_BYTES, Failure, Intake, Kind, Verdict
from tracking.bounce_parser.notices import BOUNCE_SENDER, WEAK_RULES, plain_bounce_rule, plain_failures, quotes_refusal
from tracking.bounce_parser.ses import amazon_ses_notification, provider_failure, ses_notification
from tracking.bounce_parser.verdict import as_reported

__all__ = ["DIAGNOSTIC_CHARS", "MAX_BYTES", "Failure", "Intake", "Kind", "Verdict", "parse", "provider_failure",
           "ses_notification", "verp_token"]

log = logging.getLogger(__name__)


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
    original = returned_original(message)
    message_id = clean(original.get("Message-ID", "")).strip("<>") or None if original is not None else None
    complained = complaint(message, original)
    if complained is not None:
        return Intake(Kind.COMPLAINT, complained=complained[0], feedback_type=complained[1], token=token,
                      message_id=message_id, rule=complained[2])
    text = notice_text(message)
    ses = amazon_ses_notification(message, text, token, message_id)
    if ses is not None:
        return ses
    report = delivery_status(message, text)
    if report is not None:
        reported, dsn_rule = report
        if not reported:
            return Intake(Kind.NOTHING, token=token, message_id=message_id, rule=dsn_rule,
                          reason="a delivery report: every recipient delivered, relayed or expanded")
        return Intake(Kind.BOUNCE, failures=as_reported(message, original, text, reported), token=token,
                      message_id=message_id, rule=dsn_rule)
    challenged = challenge(message, text)
    if challenged is not None:
        return Intake(Kind.AUTO_REPLY, token=token, message_id=message_id, rule=challenged,
                      reason="challenge-response: the reader's filter asks the sender to confirm; nothing failed")
    rule = plain_bounce_rule(message, text)
    auto = auto_reply(message)
    from_daemon = bool(BOUNCE_SENDER.search(clean(message.get("From", ""))))
    # MTAs mark their own notices Auto-Submitted too: wording alone does not outweigh the header, but
    # wording with the refusal it reports (an SMTP reply or status code) does, whoever sent it
    if auto and (rule is None or (rule in WEAK_RULES and not from_daemon and not quotes_refusal(text))):
        return Intake(Kind.AUTO_REPLY, token=token, message_id=message_id, rule=auto)
    if rule is None:
        return Intake(Kind.NOTHING, token=token, message_id=message_id, reason="not a bounce, reply or complaint")
    failures = plain_failures(message, original, text)
    if not failures:
        return Intake(Kind.NOTHING, token=token, message_id=message_id, rule=rule,
                      reason="looks like a bounce but names no recipient")
    return Intake(Kind.BOUNCE, failures=as_reported(message, original, text, failures), token=token,
                  message_id=message_id, rule=rule)



def _verp_token(raw: bytes) -> str | None:
    """The token of the first ``bounce+TOKEN@`` address anywhere in the message (To, returned headers)."""
    return verp_token(raw[:MAX_BYTES].decode("latin-1"))
