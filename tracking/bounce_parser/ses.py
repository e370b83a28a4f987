"""Amazon SES notifications (mailed by SNS, or posted to a webhook) and other providers' reports."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from email.message import Message
from typing import Any

from mailer.replies import enhanced_code
from tracking.bounce_parser.message import clean
from tracking.bounce_parser.model import Failure, Intake, Kind
from tracking.bounce_parser.verdict import failure_of


def amazon_ses_notification(message: Message, text: str, token: str | None, message_id: str | None) -> Intake | None:
    """A bounce or complaint from Amazon SES's JSON notification (as SNS mails it), or None."""
    if "amazonaws.com" not in clean(message.get("From", "")).lower() or "notificationType" not in text:
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
        failures.append(replace(failure_of(str(recipient.get("emailAddress", "")).lower(), status, diagnostic),
                                temporary=False))
    return Intake(Kind.BOUNCE, failures=tuple(failures), token=token, message_id=message_id, rule="amazon-ses")


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


def provider_failure(address: str, status: str | None, text: str, temporary: bool = False) -> Failure:
    """Classify one recipient a sending provider's webhook reports on: its status code if any, and its error text."""
    return failure_of(address.strip().lower(), enhanced_code(status or ""), text, delayed=temporary)
