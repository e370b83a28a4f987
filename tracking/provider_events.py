"""Sending providers' bounce and complaint events, each read into a bounce_parser Intake.

Pure: no database and no I/O. What each failed recipient means (hard, soft, refused because of the
sender) is decided by ``bounce_parser.provider_failure`` from the status code and error text the
provider passes on, as for a bounce that came by mail; a provider's own hard/soft label is kept in the
bounce's meta. Events that are not bounces or complaints (deliveries, opens …) give None.

A bounce is tied to its delivery by our VERP token where the provider passes the envelope sender on
(SES, Mailgun), else by the Message-ID header it returns (SES with headers, SendGrid's smtp-id, Mailgun,
a Postmark bounce's content), else only by the address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from core.inputs import parse_json
from tracking.bounce_parser import Failure, Intake, Kind, Verdict, parse, provider_failure, ses_notification, verp_token
from tracking.errors import EventBodyError


@dataclass(frozen=True)
class ProviderEvent:
    """One bounce or complaint a provider reported, and what to keep of its own words."""

    intake: Intake
    event_id: str | None = None  # the provider's id for it: a retried delivery of the same event is recorded once
    meta: dict[str, Any] = field(default_factory=dict)


def message_id(value: object) -> str | None:
    """A Message-ID in the form Delivery.message_id keeps it (the header's own, angle brackets included)."""
    text = str(value or "").strip().strip("<>").strip()
    return f"<{text}>" if text else None


def _object(value: Any, field_name: str) -> dict[str, Any]:
    """The value of a JSON field that must be an object, or a 400 naming the field."""
    if not isinstance(value, dict):
        raise EventBodyError(_("%(field)s must be a JSON object.", field=field_name))
    return value


def _bounce(failure: Failure, token: str | None, mid: str | None, rule: str) -> Intake:
    return Intake(Kind.BOUNCE, failures=(failure,), token=token, message_id=mid, rule=rule)


def _complaint(address: str, token: str | None, mid: str | None, rule: str, feedback: str = "abuse") -> Intake:
    return Intake(Kind.COMPLAINT, complained=(address.strip().lower(),), feedback_type=feedback, token=token,
                  message_id=mid, rule=rule)


# --- Amazon SES (through SNS) ----------------------------------------------------------------------------------

def ses_event(notice: Any, sns_message_id: str | None) -> ProviderEvent | None:
    """An SES bounce or complaint notification (or event-publishing record), or None for other notifications."""
    notice = _object(notice, "Message")
    mail = _object(notice.get("mail") or {}, "mail")
    headers = [h for h in mail.get("headers") or () if isinstance(h, dict)]
    # mail.source is the envelope sender, our bounce+TOKEN@ address; the headers are ours when SES passes them on.
    token = verp_token(" ".join([str(mail.get("source", "")), *(str(h.get("value", "")) for h in headers)]))
    mid = next((message_id(h.get("value")) for h in headers if str(h.get("name", "")).lower() == "message-id"),
               None) or message_id((mail.get("commonHeaders") or {}).get("messageId"))
    try:
        intake = ses_notification(notice, token, mid)
    except (AttributeError, TypeError) as error:  # a field of the wrong JSON type
        raise EventBodyError(_("The SES notification could not be read: %(error)s", error=error)) from None
    if intake is None:
        return None
    details = notice.get("bounce") or notice.get("complaint") or {}
    return ProviderEvent(intake, sns_message_id, {
        "ses_message_id": mail.get("messageId"), "feedback_id": details.get("feedbackId"),
        "type": details.get("bounceType") or details.get("complaintFeedbackType"),
        "subtype": details.get("bounceSubType") or details.get("complaintSubType")})


# --- SendGrid Event Webhook ------------------------------------------------------------------------------------

# Why SendGrid dropped a message without sending it: its own lists of bounced or complaining addresses.
SENDGRID_DROPPED_HARD = ("bounced address", "invalid")
SENDGRID_DROPPED_COMPLAINT = ("spam reporting address",)


def sendgrid_events(payload: Any) -> list[ProviderEvent]:
    """The bounce, dropped and spamreport events of one Event Webhook post (a JSON array)."""
    if not isinstance(payload, list):
        raise EventBodyError(_("SendGrid posts a JSON array of events."))
    return [event for item in payload if (event := _sendgrid_event(_object(item, "event"))) is not None]


def _sendgrid_event(item: dict[str, Any]) -> ProviderEvent | None:
    meta: dict[str, Any] = {key: item[key] for key in ("event", "type", "bounce_classification", "sg_message_id",
                                                       "reason") if key in item}
    intake = _sendgrid_intake(str(item.get("event", "")), str(item.get("email", "")), message_id(item.get("smtp-id")),
                              str(item.get("reason", "")), str(item.get("status", "")))
    if intake is None:
        return None
    return ProviderEvent(intake, str(item["sg_event_id"]) if item.get("sg_event_id") else None, meta)


def _sendgrid_intake(kind: str, address: str, mid: str | None, reason: str, status: str) -> Intake | None:
    dropped = reason.strip().lower() if kind == "dropped" else ""
    if kind == "spamreport" or dropped.startswith(SENDGRID_DROPPED_COMPLAINT):
        return _complaint(address, None, mid, f"sendgrid-{kind}")
    if kind not in ("bounce", "dropped") or dropped.startswith("unsubscribed address"):
        return None  # not a failure; an unsubscribe kept at SendGrid is not a bounce either
    if dropped.startswith(SENDGRID_DROPPED_HARD):
        return _bounce(Failure(address.strip().lower(), Verdict.HARD, status or "5.0.0", reason), None, mid,
                       "sendgrid-dropped")
    return _bounce(provider_failure(address, status, reason), None, mid, f"sendgrid-{kind}")


# --- Postmark ----------------------------------------------------------------------------------------------------

# Postmark's bounce types that are a failed delivery (the others are auto-replies, subscription requests,
# challenge mails …); Transient and DnsError are temporary.
POSTMARK_BOUNCES = frozenset({"HardBounce", "SoftBounce", "Transient", "DnsError", "SpamNotification",
                              "VirusNotification", "BadEmailAddress", "Blocked", "DMARCPolicy"})
POSTMARK_TEMPORARY = frozenset({"Transient", "DnsError"})


def postmark_event(payload: Any) -> ProviderEvent | None:
    """A Postmark Bounce or SpamComplaint webhook record, or None for other record types and bounce types."""
    payload = _object(payload, "body")
    record_type, bounce_type = str(payload.get("RecordType", "")), str(payload.get("Type", ""))
    address = str(payload.get("Email", ""))
    # With "include bounce content" on, Content is the bounce itself, which returns our headers.
    returned = parse(payload["Content"].encode()) if isinstance(payload.get("Content"), str) else None
    token = returned.token if returned else None
    mid = message_id(returned.message_id) if returned else None
    meta: dict[str, Any] = {"type": bounce_type, "postmark_message_id": payload.get("MessageID"), "description":
            payload.get("Description")}
    event_id = f"{record_type}:{payload['ID']}" if payload.get("ID") is not None else None
    if record_type == "SpamComplaint" or (record_type == "Bounce" and bounce_type == "SpamComplaint"):
        return ProviderEvent(_complaint(address, token, mid, "postmark"), event_id, meta)
    if record_type != "Bounce" or bounce_type not in POSTMARK_BOUNCES:
        return None
    text = " ".join(str(payload.get(key) or "") for key in ("Details", "Description"))
    failure = provider_failure(address, None, text, temporary=bounce_type in POSTMARK_TEMPORARY)
    return ProviderEvent(_bounce(failure, token, mid, "postmark"), event_id, meta)


# --- Mailgun -----------------------------------------------------------------------------------------------------

def mailgun_event(data: Any) -> ProviderEvent | None:
    """A Mailgun ``failed`` or ``complained`` event (the ``event-data`` object), or None for other events."""
    data = _object(data, "event-data")
    kind, address = str(data.get("event", "")), str(data.get("recipient", ""))
    headers = _object((_object(data.get("message") or {}, "message")).get("headers") or {}, "message.headers")
    token = verp_token(str(_object(data.get("envelope") or {}, "envelope").get("sender", "")))
    mid = message_id(headers.get("message-id"))
    event_id = str(data["id"]) if data.get("id") else None
    meta: dict[str, Any] = {key: data[key] for key in ("event", "severity", "reason") if key in data}
    if kind == "complained":
        return ProviderEvent(_complaint(address, token, mid, "mailgun"), event_id, meta)
    if kind != "failed":
        return None
    # Mailgun's own lists: it sent nothing because the address bounced, complained or unsubscribed before.
    if data.get("reason") == "suppress-complaint":
        return ProviderEvent(_complaint(address, token, mid, "mailgun-suppressed"), event_id, meta)
    if data.get("reason") == "suppress-unsubscribe":
        return None
    status = _object(data.get("delivery-status") or {}, "delivery-status")
    text = " ".join(str(status.get(key) or "") for key in ("code", "message", "description")).strip()
    if data.get("reason") == "suppress-bounce":
        failure = Failure(address.strip().lower(), Verdict.HARD, "5.0.0", text)
    else:
        failure = provider_failure(address, str(status.get("enhanced-code") or ""),
                                   text or str(data.get("reason", "")), temporary=data.get("severity") == "temporary")
    return ProviderEvent(_bounce(failure, token, mid, "mailgun"), event_id, meta)


def json_payload(body: bytes) -> Any:
    """The JSON a provider posted, or a 400 that says it is not JSON."""
    try:
        return parse_json(body)
    except ValueError:  # UnicodeDecodeError is one
        raise EventBodyError(_("The request body is not JSON.")) from None
