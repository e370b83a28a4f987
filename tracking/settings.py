"""tracking's settings: what opens and clicks keep, when bounces suppress, bounce intake and provider webhooks.

Read and checked at start with core's (core/settings.py); code reads them as ``TRACKING.current()``,
``BOUNCES.current()`` and ``WEBHOOKS.current()``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from babel.numbers import list_currencies
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.settings import (
    Editable,
    Kind,
    Settings,
    SettingsError,
    SettingsGroup,
    declare_editable,
    read_flag,
    read_items,
    read_port,
    read_whole_number,
)

DEFAULT_BOUNCE_PORT = 2526  # named so the README table and the code cannot drift apart
# Bounce mailboxes are read over TLS only: the password and the mail never cross the network in clear.
SUPPORTED_MAILBOX_SCHEMES = ("imaps", "imap+starttls", "pop3s", "pop3+starttls")
MIN_WEBHOOK_SECRET = 16  # the Postmark password guards a public URL: no short guessable words
_EVENT_NAME = re.compile(r"[a-z0-9_.:-]{1,64}")  # as customer events are named (automations/events.py)
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}")


class IPHandling(StrEnum):
    """What the open and click records keep of a reader's IP address (KAIRAN_TRACK_IP)."""

    TRUNCATE = "truncate"  # IPv4 to its /24, IPv6 to its /48: the network, not the household
    HASH = "hash"  # a keyed hash: the same address can be recognised, not read back
    NONE = "none"


@dataclass(frozen=True)
class TrackingSettings:
    """What opens and clicks record about people."""

    individuals: bool  # off: events keep their campaign and counts, but no delivery, UA or IP (as listmonk's setting)
    ip: IPHandling


@dataclass(frozen=True)
class BounceSettings:
    """When soft bounces suppress an address: this many within this many days (hard ones and complaints at once)."""

    soft_count: int
    soft_days: int
    # Japanese carriers answer a sender who keeps mailing refused addresses by refusing the sender: stricter.
    carrier_soft_count: int
    carrier_soft_days: int
    port: int  # the inbound SMTP server's port (bounce+TOKEN@ mail): loopback under `flask up`
    mailbox: str | None  # imaps:// or pop3s:// URL of a mailbox a relay returns bounces to, polled by the workers
    mailbox_seconds: int  # how often that mailbox is read
    # The inbound server's certificate and key (PEM files): with them it offers STARTTLS to sending MTAs.
    tls: tuple[Path, Path] | None


@dataclass(frozen=True)
class WebhookSettings:
    """What authenticates each sending provider's bounce webhook; a provider whose settings are unset is off."""

    # SNS topics whose notifications count: anyone can point an SNS topic of their own at a public URL, and
    # AWS signs its messages too, so a valid signature alone does not say the bounce is about our mail.
    ses_topic_arns: frozenset[str]
    sendgrid_key: ec.EllipticCurvePublicKey | None  # the Event Webhook's verification key (ECDSA P-256)
    postmark_user: str | None  # HTTP basic credentials written into the webhook URL in Postmark
    postmark_password: str | None
    mailgun_key: str | None  # the HTTP webhook signing key (HMAC-SHA256)


@dataclass(frozen=True)
class ConversionSettings:
    """What counts as a conversion, for how long after a click, and in which currency revenue is shown."""

    events: frozenset[str]  # event names that are conversions (a purchase, a sign-up)
    window_days: int  # a conversion goes to the last click by a person at most this many days before it
    currency: str  # ISO 4217: a purchase without one is in it, and the report shows revenue in it
    link_parameter: bool  # the click redirect adds kairan_c (the delivery, signed) for a shop's checkout


def read_conversions(env: Mapping[str, str], _core: Settings) -> ConversionSettings:
    """Read KAIRAN_CONVERSION_EVENTS, KAIRAN_ATTRIBUTION_DAYS, KAIRAN_CURRENCY and KAIRAN_CONVERSION_PARAMETER."""
    names = read_items(env, "KAIRAN_CONVERSION_EVENTS") or ["purchase"]
    bad = [name for name in names if not _EVENT_NAME.fullmatch(name)]
    if bad:
        raise SettingsError(f"KAIRAN_CONVERSION_EVENTS holds event names (a-z 0-9 _ . : -), not {bad[0]!r}.")
    currency = (env.get("KAIRAN_CURRENCY") or "JPY").strip().upper()
    if currency not in list_currencies():
        raise SettingsError(f"KAIRAN_CURRENCY must be an ISO 4217 currency code such as JPY or USD, not {currency!r}.")
    return ConversionSettings(events=frozenset(names), currency=currency,
                              window_days=read_whole_number(env, "KAIRAN_ATTRIBUTION_DAYS", 7),
                              link_parameter=read_flag(env, "KAIRAN_CONVERSION_PARAMETER", False))


def read_tracking(env: Mapping[str, str], _core: Settings) -> TrackingSettings:
    """Read what opens and clicks keep."""
    ip = (env.get("KAIRAN_TRACK_IP") or IPHandling.TRUNCATE.value).strip().lower()
    if ip not in set(IPHandling):
        raise SettingsError(_("KAIRAN_TRACK_IP must be one of %(choices)s, not %(raw)r.",
                              choices=", ".join(h.value for h in IPHandling), raw=ip))
    return TrackingSettings(individuals=read_flag(env, "KAIRAN_TRACK_INDIVIDUALS", True), ip=IPHandling(ip))


def read_bounces(env: Mapping[str, str], core: Settings) -> BounceSettings:
    """Read the bounce rules and intake; the inbound server's port must differ from core's ports."""
    port = read_port(env, "KAIRAN_BOUNCE_PORT", DEFAULT_BOUNCE_PORT)
    if port in (core.port, core.capture_port):
        raise SettingsError("KAIRAN_BOUNCE_PORT must differ from KAIRAN_PORT and KAIRAN_CAPTURE_PORT.")
    return BounceSettings(
        soft_count=read_whole_number(env, "KAIRAN_SOFT_BOUNCES", 3),
        soft_days=read_whole_number(env, "KAIRAN_SOFT_BOUNCE_DAYS", 7),
        carrier_soft_count=read_whole_number(env, "KAIRAN_CARRIER_SOFT_BOUNCES", 2),
        carrier_soft_days=read_whole_number(env, "KAIRAN_CARRIER_SOFT_BOUNCE_DAYS", 30),
        port=port,
        mailbox=_mailbox_url(env),
        mailbox_seconds=read_whole_number(env, "KAIRAN_BOUNCE_MAILBOX_SECONDS", 60),
        tls=_bounce_tls(env),
    )


def _bounce_tls(env: Mapping[str, str]) -> tuple[Path, Path] | None:
    cert, key = (env.get(name) or "" for name in ("KAIRAN_BOUNCE_TLS_CERT", "KAIRAN_BOUNCE_TLS_KEY"))
    if not cert and not key:
        return None
    if not cert or not key:
        raise SettingsError("KAIRAN_BOUNCE_TLS_CERT and KAIRAN_BOUNCE_TLS_KEY must be set together.")
    for name, value in (("KAIRAN_BOUNCE_TLS_CERT", cert), ("KAIRAN_BOUNCE_TLS_KEY", key)):
        if not Path(value).is_file():
            raise SettingsError(f"{name} names {value!r}, which is not a readable file.")
    return Path(cert), Path(key)


def _mailbox_url(env: Mapping[str, str]) -> str | None:
    raw = (env.get("KAIRAN_BOUNCE_MAILBOX") or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        port = -1
    if (parts.scheme not in SUPPORTED_MAILBOX_SCHEMES or not parts.hostname or not parts.username
            or parts.password is None or port == -1):
        raise SettingsError("KAIRAN_BOUNCE_MAILBOX must be a URL with a user and a password, such as "
                            "imaps://user:password@mail.example.jp:993/INBOX or pop3s://user:password@"
                            f"mail.example.jp:995 ({', '.join(SUPPORTED_MAILBOX_SCHEMES)}).")
    return raw


def read_webhooks(env: Mapping[str, str], _core: Settings) -> WebhookSettings:
    """Read what authenticates each provider's bounce webhook."""
    arns = frozenset(read_items(env, "KAIRAN_SES_TOPIC_ARNS"))
    for arn in arns:
        if not _TOPIC_ARN.fullmatch(arn):
            raise SettingsError(f"KAIRAN_SES_TOPIC_ARNS needs SNS topic ARNs such as "
                                f"'arn:aws:sns:ap-northeast-1:123456789012:ses-bounces', not {arn!r}.")
    user = (env.get("KAIRAN_POSTMARK_WEBHOOK_USER") or "").strip() or None
    password = env.get("KAIRAN_POSTMARK_WEBHOOK_PASSWORD") or None
    if bool(user) != bool(password):
        raise SettingsError("KAIRAN_POSTMARK_WEBHOOK_USER and KAIRAN_POSTMARK_WEBHOOK_PASSWORD must be set together.")
    if password is not None and len(password) < MIN_WEBHOOK_SECRET:
        raise SettingsError(f"KAIRAN_POSTMARK_WEBHOOK_PASSWORD must be at least {MIN_WEBHOOK_SECRET} characters long.")
    mailgun = (env.get("KAIRAN_MAILGUN_SIGNING_KEY") or "").strip() or None
    if mailgun is not None and len(mailgun) < MIN_WEBHOOK_SECRET:
        raise SettingsError("KAIRAN_MAILGUN_SIGNING_KEY must be the HTTP webhook signing key Mailgun shows "
                            f"(at least {MIN_WEBHOOK_SECRET} characters).")
    return WebhookSettings(ses_topic_arns=arns, sendgrid_key=_sendgrid_key(env.get("KAIRAN_SENDGRID_WEBHOOK_KEY")),
                           postmark_user=user, postmark_password=password, mailgun_key=mailgun)


def _sendgrid_key(raw: str | None) -> ec.EllipticCurvePublicKey | None:
    """Read SendGrid's verification key: base64 DER as its settings page shows it, or the same in PEM."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        key = (load_pem_public_key(text.encode()) if text.startswith("-----")
               else load_der_public_key(base64.b64decode(text, validate=True)))
    except (ValueError, TypeError, binascii.Error):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SettingsError("KAIRAN_SENDGRID_WEBHOOK_KEY must be the Event Webhook's verification key as SendGrid "
                            "shows it (an ECDSA public key, base64).")
    return key


TRACKING = SettingsGroup("tracking", read_tracking)
BOUNCES = SettingsGroup("bounces", read_bounces)
WEBHOOKS = SettingsGroup("webhooks", read_webhooks)
CONVERSIONS = SettingsGroup("conversions", read_conversions)


_PRIVACY, _BOUNCES = _l("Tracking and privacy"), _l("Bounces")
declare_editable(
    Editable("KAIRAN_TRACK_INDIVIDUALS", _l("Record who opened and clicked"), _PRIVACY,
             lambda s: "on" if TRACKING.of(s).individuals else "off", Kind.FLAG,
             hint=_l("Off: opens and clicks are counted per campaign only.")),
    Editable("KAIRAN_TRACK_IP", _l("Readers' IP addresses"), _PRIVACY, lambda s: TRACKING.of(s).ip.value,
             Kind.CHOICE, tuple(h.value for h in IPHandling),
             {IPHandling.TRUNCATE.value: _l("The network only (truncated)"),
              IPHandling.HASH.value: _l("Hashed: recognisable, not readable"), IPHandling.NONE.value: _l("Not kept")}),
    Editable("KAIRAN_SOFT_BOUNCES", _l("Soft bounces that suppress an address"), _BOUNCES,
             lambda s: str(BOUNCES.of(s).soft_count), Kind.NUMBER),
    Editable("KAIRAN_SOFT_BOUNCE_DAYS", _l("… within days"), _BOUNCES, lambda s: str(BOUNCES.of(s).soft_days),
             Kind.NUMBER),
    Editable("KAIRAN_CARRIER_SOFT_BOUNCES", _l("Soft bounces at Japanese carriers that suppress an address"),
             _BOUNCES, lambda s: str(BOUNCES.of(s).carrier_soft_count), Kind.NUMBER),
    Editable("KAIRAN_CARRIER_SOFT_BOUNCE_DAYS", _l("… within days (carriers)"), _BOUNCES,
             lambda s: str(BOUNCES.of(s).carrier_soft_days), Kind.NUMBER),
)
