"""Bounce and complaint webhooks: listmonk's ``POST /webhooks/bounce`` and the sending providers' own.

Each call becomes bounce_parser Intakes that ``tracking.bounces.record`` stores and acts on, with the
provider's name as the source. listmonk's webhook takes API credentials like the rest of the API. The
providers' webhooks are open URLs that prove their origin themselves: SNS's RSA signature (and a topic
we named), SendGrid's ECDSA signature, Postmark's basic-auth password, Mailgun's HMAC. A provider whose
settings are unset answers 404; a call that fails its proof answers 401 and is logged, and too many of
those from one address answer 429. They take no CSRF token (core/web.py: /webhooks/ is API).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import select

from core.auth import Permission, public, require
from core.db import db
from core.errors import ValidationError
from core.inputs import INT64_MAX, id_or_none, json_body
from core.queues import redis
from core.tokens import Mark, mark_token
from core.validation import choice
from core.web import limiter
from lists.addresses import address_key, normalise_email
from lists.models import Subscriber
from mailer.models import Campaign, Delivery
from tracking import sns
from tracking.bounce_parser import Failure, Intake, Kind, Verdict
from tracking.bounces import record
from tracking.errors import EventBodyError, SignatureError, WebhookOffError
from tracking.models import BounceType
from tracking.provider_events import (
    ProviderEvent,
    json_payload,
    mailgun_event,
    postmark_event,
    sendgrid_events,
    ses_event,
)
from tracking.settings import WEBHOOKS, WebhookSettings

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

REFUSED_LIMIT = "20 per minute"  # refused proofs per client address: the providers' own calls never fail theirs
MAX_CLOCK_SKEW = 600  # seconds: a signed SendGrid or Mailgun call older (or newer) than this is refused
EVENT_MEMORY = 3 * 24 * 3600  # seconds an event id is remembered: providers retry for up to three days
_KEY = "kairan:webhook:"


def _refused(response: Any) -> bool:
    return bool(response.status_code == 401)


def _settings() -> WebhookSettings:
    return WEBHOOKS.current()


def _off(variables: str) -> WebhookOffError:
    """The 404 of a provider whose settings are unset."""
    return WebhookOffError(_("This webhook is off: set %(variables)s to turn it on.", variables=variables))


def _refuse(provider: str, reason: str) -> SignatureError:
    """Log a call that failed its proof and return the 401 to raise."""
    log.warning("%s webhook refused from %s: %s", provider, request.remote_addr, reason)
    return SignatureError(_("The webhook call could not be authenticated."))


def _first_time(kind: str, identifier: str, seconds: int) -> bool:
    """Remember an id for a while; tell whether it is new (SET NX: one answer even for calls at the same time)."""
    return bool(redis().set(f"{_KEY}{kind}:{identifier}", 1, nx=True, ex=seconds))


def _record_all(provider: str, events: Iterable[ProviderEvent]) -> Any:
    """Record each event not recorded before and answer listmonk's ``{"data": true}``."""
    for event in events:
        if event.event_id is not None and not _first_time(provider, event.event_id, EVENT_MEMORY):
            log.info("%s event %s arrived again: already recorded", provider, event.event_id)
            continue
        try:
            record(event.intake, provider, meta={key: value for key, value in event.meta.items() if value is not None},
                   authenticated=True)  # every provider's call proved its origin before it got here
        except Exception:
            if event.event_id is not None:  # not recorded: let the provider's retry through
                redis().delete(f"{_KEY}{provider}:{event.event_id}")
            raise
    return jsonify(data=True)


@bp.post("/bounce")
@require(Permission.BOUNCES_POST)
def listmonk_bounce() -> Any:
    """Record a bounce or complaint reported in listmonk's terms.
    ---
    post:
      tags: [bounces]
      summary: Record a bounce or complaint (listmonk's generic bounce webhook).
      description: >
        Name the recipient by `email` or `subscriber_uuid`. With `campaign_uuid` the bounce is tied to
        that campaign's delivery. Hard bounces and complaints suppress the address at once, soft ones
        after KAIRAN_SOFT_BOUNCES within KAIRAN_SOFT_BOUNCE_DAYS.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [type]
              properties:
                email: {type: string}
                subscriber_uuid: {type: string}
                campaign_uuid: {type: string}
                type: {type: string, enum: [hard, soft, complaint]}
                source: {type: string, description: 'Who reported it (default "api").'}
                meta: {type: object, description: Kept with the bounce as given.}
      responses:
        200: {description: 'Recorded: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
        403: {$ref: '#/components/responses/Error'}
    """
    body = json_body()
    kind = choice(BounceType, body.get("type"), "type", required=True)
    meta = body.get("meta") if body.get("meta") is not None else {}
    if not isinstance(meta, dict):
        raise ValidationError(_("meta must be a JSON object."))
    subscriber = _subscriber(body)
    address = subscriber.email if subscriber is not None else normalise_email(str(body.get("email") or ""))
    token = None
    if body.get("campaign_uuid"):
        campaign_id = db.session.scalar(select(Campaign.id).where(Campaign.uuid == str(body["campaign_uuid"])))
        if campaign_id is None:
            raise ValidationError(_("No campaign has the uuid %(uuid)s.", uuid=body["campaign_uuid"]))
        delivery_id = db.session.scalar(select(Delivery.id).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                                        .where(Delivery.campaign_id == campaign_id,
                                               Subscriber.email_key == address_key(address)))
        token = mark_token(Mark.BOUNCE, delivery_id) if delivery_id is not None else None  # how record() ties it
    if kind == BounceType.COMPLAINT:
        intake = Intake(Kind.COMPLAINT, complained=(address,), feedback_type="abuse", token=token, rule="listmonk")
    else:
        verdict = Verdict.HARD if kind == BounceType.HARD else Verdict.SOFT
        intake = Intake(Kind.BOUNCE, failures=(Failure(address, verdict, "", ""),), token=token, rule="listmonk")
    record(intake, str(body.get("source") or "api").strip()[:40] or "api", meta=meta, authenticated=True)  # an API user
    return jsonify(data=True)


def _subscriber(body: dict[str, Any]) -> Subscriber | None:
    """The subscriber a listmonk bounce names: by uuid (which must exist), else by address (who may be no one)."""
    if body.get("subscriber_uuid"):
        found = db.session.scalar(select(Subscriber).where(Subscriber.uuid == str(body["subscriber_uuid"])))
        if found is None:
            raise ValidationError(_("No subscriber has the uuid %(uuid)s.", uuid=body["subscriber_uuid"]))
        return found
    if not body.get("email"):
        raise ValidationError(_("Name the recipient with email or subscriber_uuid."))
    return db.session.scalar(select(Subscriber).where(
        Subscriber.email_key == address_key(normalise_email(str(body["email"])))))


@bp.post("/service/ses")
@public  # AWS's signature, checked below, and a topic named in KAIRAN_SES_TOPIC_ARNS
@limiter.limit(REFUSED_LIMIT, deduct_when=_refused)
def ses() -> Any:
    """Take an Amazon SNS message carrying an SES bounce or complaint notification.
    ---
    post:
      tags: [bounces]
      summary: Amazon SES bounce and complaint notifications through an SNS topic (HTTPS subscription).
      description: >
        Off (404) until KAIRAN_SES_TOPIC_ARNS names the topic. Every message's SNS signature is checked
        (SignatureVersion 1 or 2) against the certificate SNS names, fetched only from
        https://sns.<region>.amazonaws.com. A SubscriptionConfirmation is confirmed by visiting its
        SubscribeURL. Raw message delivery must be off.
      security: []
      requestBody:
        required: true
        content:
          text/plain: {schema: {type: string, description: The SNS message (JSON).}}
      responses:
        200: {description: 'Taken: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
        401: {$ref: '#/components/responses/Error'}
        404: {$ref: '#/components/responses/Error'}
        429: {$ref: '#/components/responses/RateLimited'}
    """
    topics = _settings().ses_topic_arns
    if not topics:
        raise _off("KAIRAN_SES_TOPIC_ARNS")
    message = json_payload(request.get_data())
    if not isinstance(message, dict):
        raise EventBodyError(_("The request body is not an SNS message."))
    if message.get("TopicArn") not in topics:
        raise _refuse("ses", f"topic {message.get('TopicArn')!r} is not in KAIRAN_SES_TOPIC_ARNS")
    rules = sns.trust()
    try:
        sns.verify(message, rules)
        if message["Type"] == "SubscriptionConfirmation":
            sns.confirm_subscription(message, rules)
            return jsonify(data=True)
    except sns.SNSError as error:
        raise _refuse("ses", str(error)) from None
    if message["Type"] != "Notification":
        log.info("SNS says: %s", message["Type"])
        return jsonify(data=True)
    event = ses_event(json_payload(str(message.get("Message", "")).encode()), str(message["MessageId"]))
    return _record_all("ses", [event] if event is not None else [])


@bp.post("/service/sendgrid")
@public  # SendGrid's ECDSA signature, checked below with KAIRAN_SENDGRID_WEBHOOK_KEY
@limiter.limit(REFUSED_LIMIT, deduct_when=_refused)
def sendgrid() -> Any:
    """Take a SendGrid Event Webhook post.
    ---
    post:
      tags: [bounces]
      summary: SendGrid's Event Webhook (signed); bounce, dropped and spamreport events are recorded.
      description: >
        Off (404) until KAIRAN_SENDGRID_WEBHOOK_KEY holds the verification key of the signed Event
        Webhook. A post whose signature does not match, or whose timestamp is more than 10 minutes
        off, is refused (401).
      security: []
      parameters:
        - {in: header, name: X-Twilio-Email-Event-Webhook-Signature, required: true, schema: {type: string}}
        - {in: header, name: X-Twilio-Email-Event-Webhook-Timestamp, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json: {schema: {type: array, items: {type: object}}}
      responses:
        200: {description: 'Taken: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
        401: {$ref: '#/components/responses/Error'}
        404: {$ref: '#/components/responses/Error'}
        429: {$ref: '#/components/responses/RateLimited'}
    """
    key = _settings().sendgrid_key
    if key is None:
        raise _off("KAIRAN_SENDGRID_WEBHOOK_KEY")
    body = request.get_data()
    timestamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    _check_timestamp("sendgrid", timestamp)
    try:
        signature = base64.b64decode(request.headers.get("X-Twilio-Email-Event-Webhook-Signature", ""), validate=True)
        key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise _refuse("sendgrid", "the signature does not match") from None
    return _record_all("sendgrid", sendgrid_events(json_payload(body)))


@bp.post("/service/postmark")
@public  # basic auth with KAIRAN_POSTMARK_WEBHOOK_USER and _PASSWORD, checked below
@limiter.limit(REFUSED_LIMIT, deduct_when=_refused)
def postmark() -> Any:
    """Take a Postmark bounce or spam complaint webhook.
    ---
    post:
      tags: [bounces]
      summary: Postmark's Bounce and SpamComplaint webhooks, with HTTP basic auth.
      description: >
        Off (404) until KAIRAN_POSTMARK_WEBHOOK_USER and KAIRAN_POSTMARK_WEBHOOK_PASSWORD are set; put
        them in the webhook URL in Postmark (https://user:password@…). Wrong credentials get 401.
      security: [{basicAuth: []}]
      requestBody:
        required: true
        content:
          application/json: {schema: {type: object}}
      responses:
        200: {description: 'Taken: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
        401: {$ref: '#/components/responses/Error'}
        404: {$ref: '#/components/responses/Error'}
        429: {$ref: '#/components/responses/RateLimited'}
    """
    settings = _settings()
    if settings.postmark_user is None or settings.postmark_password is None:
        raise _off("KAIRAN_POSTMARK_WEBHOOK_USER, KAIRAN_POSTMARK_WEBHOOK_PASSWORD")
    given = request.authorization
    user_ok = hmac.compare_digest(((given.username if given else None) or "").encode(), settings.postmark_user.encode())
    password_ok = hmac.compare_digest(((given.password if given else None) or "").encode(),
                                      settings.postmark_password.encode())
    if not (user_ok and password_ok):  # both compared, so the time taken says nothing about which was wrong
        raise _refuse("postmark", "wrong or missing basic-auth credentials")
    event = postmark_event(json_payload(request.get_data()))
    return _record_all("postmark", [event] if event is not None else [])


@bp.post("/service/mailgun")
@public  # Mailgun's HMAC with KAIRAN_MAILGUN_SIGNING_KEY, its timestamp and a token used once, checked below
@limiter.limit(REFUSED_LIMIT, deduct_when=_refused)
def mailgun() -> Any:
    """Take a Mailgun webhook.
    ---
    post:
      tags: [bounces]
      summary: Mailgun's webhooks (failed, permanent or temporary, and complained), signed.
      description: >
        Off (404) until KAIRAN_MAILGUN_SIGNING_KEY holds the HTTP webhook signing key. A post whose
        signature does not match, whose timestamp is more than 10 minutes off, or whose token was seen
        before (a replay) is refused (401).
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [signature, event-data]
              properties:
                signature:
                  type: object
                  properties: {timestamp: {type: string}, token: {type: string}, signature: {type: string}}
                event-data: {type: object}
      responses:
        200: {description: 'Taken: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
        401: {$ref: '#/components/responses/Error'}
        404: {$ref: '#/components/responses/Error'}
        429: {$ref: '#/components/responses/RateLimited'}
    """
    key = _settings().mailgun_key
    if key is None:
        raise _off("KAIRAN_MAILGUN_SIGNING_KEY")
    payload = json_payload(request.get_data())
    proof = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(proof, dict):
        raise EventBodyError(_("The request body is not a Mailgun webhook (it has no signature object)."))
    timestamp, token = str(proof.get("timestamp", "")), str(proof.get("token", ""))
    _check_timestamp("mailgun", timestamp)
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not token or not hmac.compare_digest(expected, str(proof.get("signature", ""))):
        raise _refuse("mailgun", "the signature does not match")
    # Kept for twice the skew allowed: by then its timestamp alone refuses a replay.
    if not _first_time("mailgun-token", token, 2 * MAX_CLOCK_SKEW):
        raise _refuse("mailgun", f"token {token} was used before (a replay)")
    try:
        event = mailgun_event(payload.get("event-data"))
        return _record_all("mailgun", [event] if event is not None else [])
    except Exception:
        redis().delete(f"{_KEY}mailgun-token:{token}")  # not taken: Mailgun's retry of this post is no replay
        raise


def _check_timestamp(provider: str, raw: str) -> None:
    """Refuse a signed call whose timestamp (Unix seconds) is missing or too far from now: an old one is a replay."""
    seconds = id_or_none(raw, INT64_MAX)  # "²" passes str.isdigit() but not int()
    if seconds is None or abs(time.time() - seconds) > MAX_CLOCK_SKEW:
        raise _refuse(provider, f"timestamp {raw!r} is missing or more than {MAX_CLOCK_SKEW} s from now")


def handle_redis_down(error: RedisError) -> Any:
    """Answer 503 while Redis is down, so the provider retries later (event ids and tokens are kept there)."""
    log.error("webhook not taken, Redis is unreachable: %s", error)
    return jsonify(message=_("Kairan cannot take this now; try again later.")), 503


bp.register_error_handler(RedisError, handle_redis_down)
