"""Complaints: RFC 5965 feedback reports, Hotmail's JMRP reports, Apple Mail's unsubscribe message."""

from __future__ import annotations

from email.message import Message

from tracking.bounce_parser.addresses import addresses_in
from tracking.bounce_parser.message import clean, content_type, field_blocks


def complaint(message: Message, original: Message | None) -> tuple[tuple[str, ...], str, str] | None:
    """(recipients, feedback type, rule) for a complaint, or None."""
    for part in message.walk():
        if content_type(part) == "message/feedback-report":
            fields = field_blocks(part)
            merged = [item for block in fields for item in block]
            feedback = next((v for k, v in merged if k == "feedback-type"), "abuse").lower()
            recipients = [v for k, v in merged if k in ("original-rcpt-to", "removal-recipient")]
            if not recipients and original is not None:
                recipients = addresses_in(clean(original.get("To", "")))
            return tuple(addresses_in(" ".join(recipients))), feedback, "arf"
    subject = clean(message.get("Subject", "")).lower()
    sender = clean(message.get("From", "")).lower()
    if original is not None and original.get("X-HmXmrOriginalRecipient") and "complaint about message" in subject:
        return tuple(addresses_in(original["X-HmXmrOriginalRecipient"])), "abuse", "hotmail-jmrp"
    if message.get("X-Apple-Unsubscribe", "").strip().lower() == "true" and "icloud.com" in sender:
        return tuple(addresses_in(clean(message.get("From", "")))), "opt-out", "apple-unsubscribe"
    return None
