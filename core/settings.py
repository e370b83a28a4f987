"""Settings read from ``KAIRAN_*`` environment variables, validated once at start-up."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Defaults, named so the README table and the code cannot drift apart.
DEFAULT_DATA_DIR = "instance"
DEFAULT_PORT = 5000
DEFAULT_CAPTURE_PORT = 2525
DEFAULT_BOUNCE_PORT = 2526
DEFAULT_TIMEZONE = "Asia/Tokyo"  # Kairan's users are mostly in Japan
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
REDIS_SOCKET_FILE = "redis.sock"
SUPPORTED_DATABASES = ("sqlite", "postgresql")
SUPPORTED_SMTP_SCHEMES = ("smtp", "smtps", "smtp+starttls")
# Bounce mailboxes are read over TLS only: the password and the mail never cross the network in clear.
SUPPORTED_MAILBOX_SCHEMES = ("imaps", "imap+starttls", "pop3s", "pop3+starttls")


class SettingsError(click.ClickException):
    """A setting has a value Kairan cannot use; the message is one sentence naming it."""


@dataclass(frozen=True)
class SendingSettings:
    """How campaigns go out: pacing, connections, leases, retries and when a campaign pauses itself."""

    rate_per_second: int | None  # across every worker on every machine; unset: only the relays' own limits
    connections: int  # SMTP connections per worker process, so relay latency does not cap throughput
    batch_size: int  # deliveries per send job: its lease stays short, and every worker gets work
    lease_seconds: int  # a dead worker's claimed rows are sent again after this
    retry_base_seconds: int  # the first back-off after a 4xx; doubled each time, with jitter
    retry_attempts: int  # then the delivery fails
    retry_hours: int  # or when this long has passed since its first failure
    pause_failures: int  # a campaign pauses itself at this many failures …
    pause_failure_percent: int  # … when they are also at least this share of what was tried
    reconcile_seconds: int  # how often a worker re-queues what the database says is unsent
    relay_take_out_seconds: float  # a relay that keeps failing is left alone this long
    domain_limits: dict[str, int]  # receiving domain -> messages per minute (KAIRAN_DOMAIN_LIMITS adds or overrides)


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


# Conservative per-minute limits for receiving domains that throttle bulk senders. Japanese carriers
# defer or drop bursts from senders without a history; the big providers take far more.
DEFAULT_DOMAIN_LIMITS = {
    "docomo.ne.jp": 120, "ezweb.ne.jp": 120, "au.com": 120, "softbank.ne.jp": 120, "i.softbank.jp": 120,
    "disney.ne.jp": 60, "ymobile.ne.jp": 120, "gmail.com": 3000, "googlemail.com": 3000,
    "outlook.com": 1200, "hotmail.com": 1200, "outlook.jp": 1200, "hotmail.co.jp": 1200, "yahoo.co.jp": 1200,
}


@dataclass(frozen=True)
class Settings:
    """The effective configuration of one Kairan installation."""

    data_dir: Path
    database_url: str
    redis_url: str
    smtp_url: str
    base_url: str
    secret_key: str
    secret_key_file: Path | None  # where the key was generated, with no KAIRAN_SECRET_KEY (one machine's alone)
    port: int
    capture_port: int
    workers: int
    trusted_proxies: int  # reverse proxies in front whose X-Forwarded-For/-Proto/-Host are believed (0: none)
    bounce_domain: str | None  # VERP return paths (bounce+TOKEN@…); default bounce.<the sending domain>
    mail_from: str  # sender of Kairan's own mail (test messages, opt-in confirmations)
    company_name: str  # shown on public pages and in Kairan's own mail
    timezone: str  # the UI shows times in it (stored times are UTC)
    logo_url: str | None  # shown on public pages
    test_subject_prefix: str | None  # starts a test send's subject; unset: [テスト] or [Test], the sender's language
    postal_address: str  # 特定電子メール法: the sender's address, in every campaign's footer
    contact: str  # 特定電子メール法: where readers reach the sender (an address, a URL or a phone number)
    media_s3_url: str | None  # S3-compatible storage for uploaded images (several web machines); else data_dir
    media_public_url: str | None  # where readers load those images from (a CDN or the bucket's public URL)
    admin_user: str | None
    admin_password: str | None
    require_2fa_admins: bool  # admins must use two-factor login: one without it is sent to enrol after login
    embedded_redis: bool  # Kairan starts its own redis-server on a socket in data_dir
    embedded_smtp: bool  # mail goes to the built-in capture server (the Outbox)
    sending: SendingSettings
    tracking: TrackingSettings
    bounces: BounceSettings
    webhooks: WebhookSettings

    @property
    def redis_socket(self) -> Path:
        """Return where the embedded redis-server listens."""
        return self.data_dir / REDIS_SOCKET_FILE


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SettingsError(f"{name} must be a port number from 1 to 65535, not {raw!r}.")
    return int(raw)


def _whole_number(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SettingsError(f"{name} must be a whole number of {minimum} or more, not {raw!r}.")
    return int(raw)


def _domain_limits(env: Mapping[str, str]) -> dict[str, int]:
    limits = dict(DEFAULT_DOMAIN_LIMITS)
    for item in filter(None, (part.strip() for part in (env.get("KAIRAN_DOMAIN_LIMITS") or "").split(","))):
        domain, _equals, rate = item.partition("=")
        if not domain.strip() or not rate.strip().isdigit() or int(rate) < 1:
            raise SettingsError(f"KAIRAN_DOMAIN_LIMITS needs domain=messages-per-minute pairs such as "
                                f"'docomo.ne.jp=60,gmail.com=3000', not {item!r}.")
        limits[domain.strip().lower()] = int(rate)
    return limits


def _sending(env: Mapping[str, str]) -> SendingSettings:
    rate = env.get("KAIRAN_SEND_RATE")
    percent = _whole_number(env, "KAIRAN_PAUSE_FAILURE_PERCENT", 10)
    if percent > 100:
        raise SettingsError(f"KAIRAN_PAUSE_FAILURE_PERCENT must be from 1 to 100, not {percent}.")
    return SendingSettings(
        rate_per_second=_whole_number(env, "KAIRAN_SEND_RATE", 1) if rate else None,
        connections=_whole_number(env, "KAIRAN_SEND_CONNECTIONS", 8),
        batch_size=_whole_number(env, "KAIRAN_SEND_BATCH_SIZE", 500),
        lease_seconds=_whole_number(env, "KAIRAN_SEND_LEASE_SECONDS", 15),
        retry_base_seconds=_whole_number(env, "KAIRAN_RETRY_BASE_SECONDS", 60),
        retry_attempts=_whole_number(env, "KAIRAN_RETRY_ATTEMPTS", 6),
        retry_hours=_whole_number(env, "KAIRAN_RETRY_HOURS", 24),
        pause_failures=_whole_number(env, "KAIRAN_PAUSE_FAILURES", 50),
        pause_failure_percent=percent,
        reconcile_seconds=_whole_number(env, "KAIRAN_RECONCILE_SECONDS", 30),
        relay_take_out_seconds=float(_whole_number(env, "KAIRAN_RELAY_TAKE_OUT_SECONDS", 60)),
        domain_limits=_domain_limits(env),
    )


def _bounces(env: Mapping[str, str]) -> BounceSettings:
    return BounceSettings(
        soft_count=_whole_number(env, "KAIRAN_SOFT_BOUNCES", 3),
        soft_days=_whole_number(env, "KAIRAN_SOFT_BOUNCE_DAYS", 7),
        carrier_soft_count=_whole_number(env, "KAIRAN_CARRIER_SOFT_BOUNCES", 2),
        carrier_soft_days=_whole_number(env, "KAIRAN_CARRIER_SOFT_BOUNCE_DAYS", 30),
        port=_port(env, "KAIRAN_BOUNCE_PORT", DEFAULT_BOUNCE_PORT),
        mailbox=_mailbox_url(env),
        mailbox_seconds=_whole_number(env, "KAIRAN_BOUNCE_MAILBOX_SECONDS", 60),
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


_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}")
MIN_WEBHOOK_SECRET = 16  # the Postmark password guards a public URL: no short guessable words


def _webhooks(env: Mapping[str, str]) -> WebhookSettings:
    arns = frozenset(filter(None, (arn.strip() for arn in (env.get("KAIRAN_SES_TOPIC_ARNS") or "").split(","))))
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


_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw not in _ON + _OFF:
        raise SettingsError(f"{name} must be on or off (also 1/0, true/false, yes/no), not {raw!r}.")
    return raw in _ON


def _tracking(env: Mapping[str, str]) -> TrackingSettings:
    ip = (env.get("KAIRAN_TRACK_IP") or IPHandling.TRUNCATE.value).strip().lower()
    if ip not in set(IPHandling):
        raise SettingsError(f"KAIRAN_TRACK_IP must be one of {', '.join(h.value for h in IPHandling)}, not {ip!r}.")
    return TrackingSettings(individuals=_flag(env, "KAIRAN_TRACK_INDIVIDUALS", True), ip=IPHandling(ip))


def _data_dir(env: Mapping[str, str]) -> Path:
    path = Path(env.get("KAIRAN_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        # A probe of its own: processes starting together (workers, web) must not remove each other's.
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise SettingsError(
            f"KAIRAN_DATA_DIR {str(path)!r} is not a writable folder ({exc.strerror})."
        ) from None
    return path


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    raw = env.get("KAIRAN_DATABASE_URL") or f"sqlite:///{data_dir / 'kairan.db'}"
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(
            f"KAIRAN_DATABASE_URL {raw!r} is not a database URL "
            "(e.g. postgresql://user@host/kairan or sqlite:////path/kairan.db)."
        ) from None
    if url.get_backend_name() not in SUPPORTED_DATABASES:
        raise SettingsError(
            f"KAIRAN_DATABASE_URL uses {url.get_backend_name()!r}; Kairan runs on sqlite or postgresql."
        )
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        # psycopg 3 is the driver we install; plain postgresql:// would ask for psycopg2.
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], default: str) -> str:
    raw = env.get(name) or default
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.hostname or parts.path):
        raise SettingsError(f"{name} {raw!r} must be a URL starting with {' or '.join(s + '://' for s in schemes)}.")
    return raw


def _mail_from(env: Mapping[str, str], base_url: str, company: str) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    # Address() quotes what needs quoting but leaves Japanese readable; the mail policy encodes it on send.
    raw = env.get("KAIRAN_MAIL_FROM") or str(Address(display_name=company, addr_spec=f"kairan@{host}"))
    _name, address = parseaddr(raw)
    if "@" not in address or any(c in raw for c in "\r\n"):
        raise SettingsError(f"KAIRAN_MAIL_FROM {raw!r} must be an address such as 'News <news@example.com>'.")
    return raw


def _test_subject_prefix(env: Mapping[str, str]) -> str | None:
    raw = (env.get("KAIRAN_TEST_SUBJECT_PREFIX") or "").strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):  # it goes into a Subject header
        raise SettingsError("KAIRAN_TEST_SUBJECT_PREFIX must be one line of text, such as [TEST].")
    return raw or None


def _timezone(env: Mapping[str, str]) -> str:
    name = env.get("KAIRAN_TIMEZONE") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"KAIRAN_TIMEZONE {name!r} is not a time zone name such as Asia/Tokyo or UTC.") from None
    return name


def _secret_key(env: Mapping[str, str], data_dir: Path) -> tuple[str, Path | None]:
    """Return KAIRAN_SECRET_KEY, or the key generated into the data folder with its file."""
    if env.get("KAIRAN_SECRET_KEY"):
        if len(env["KAIRAN_SECRET_KEY"]) < 16:
            raise SettingsError("KAIRAN_SECRET_KEY must be at least 16 characters long.")
        return env["KAIRAN_SECRET_KEY"], None
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        # Written whole to a 0600 scratch file (other local users must not forge sessions or tokens),
        # then linked into place: link fails if another process won the race, and nobody ever reads
        # a half-written key.
        fd, scratch = tempfile.mkstemp(dir=data_dir, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            try:
                os.link(scratch, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(scratch)
    return path.read_text().strip(), path


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every ``KAIRAN_*`` setting, raising SettingsError on the first bad one."""
    env = os.environ if env is None else env
    data_dir = _data_dir(env)
    port = _port(env, "KAIRAN_PORT", DEFAULT_PORT)
    capture_port = _port(env, "KAIRAN_CAPTURE_PORT", DEFAULT_CAPTURE_PORT)
    if port == capture_port:
        raise SettingsError("KAIRAN_CAPTURE_PORT must differ from KAIRAN_PORT.")
    if _port(env, "KAIRAN_BOUNCE_PORT", DEFAULT_BOUNCE_PORT) in (port, capture_port):
        raise SettingsError("KAIRAN_BOUNCE_PORT must differ from KAIRAN_PORT and KAIRAN_CAPTURE_PORT.")
    redis_default = f"unix://{data_dir / REDIS_SOCKET_FILE}"
    smtp_default = f"smtp://127.0.0.1:{capture_port}"
    admin_user = env.get("KAIRAN_ADMIN_USER") or None
    admin_password = env.get("KAIRAN_ADMIN_PASSWORD") or None
    if bool(admin_user) != bool(admin_password):
        raise SettingsError("KAIRAN_ADMIN_USER and KAIRAN_ADMIN_PASSWORD must be set together.")
    base_url = _url(env, "KAIRAN_BASE_URL", ("http", "https"), f"http://127.0.0.1:{port}").rstrip("/")
    company = (env.get("KAIRAN_COMPANY_NAME") or "Kairan").strip()
    secret_key, secret_key_file = _secret_key(env, data_dir)
    return Settings(
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        redis_url=_url(env, "KAIRAN_REDIS_URL", ("redis", "rediss", "unix"), redis_default),
        smtp_url=_url(env, "KAIRAN_SMTP_URL", SUPPORTED_SMTP_SCHEMES, smtp_default),
        base_url=base_url,
        mail_from=_mail_from(env, base_url, company),
        bounce_domain=(env.get("KAIRAN_BOUNCE_DOMAIN") or "").strip().lower() or None,
        company_name=company,
        timezone=_timezone(env),
        logo_url=_url(env, "KAIRAN_LOGO_URL", ("http", "https"), env["KAIRAN_LOGO_URL"]) if env.get("KAIRAN_LOGO_URL")
        else None,
        test_subject_prefix=_test_subject_prefix(env),
        postal_address=(env.get("KAIRAN_POSTAL_ADDRESS") or "").strip(),
        media_s3_url=_url(env, "KAIRAN_MEDIA_S3_URL", ("http", "https"), "") if env.get("KAIRAN_MEDIA_S3_URL")
        else None,
        media_public_url=_url(env, "KAIRAN_MEDIA_PUBLIC_URL", ("http", "https"), "").rstrip("/")
        if env.get("KAIRAN_MEDIA_PUBLIC_URL") else None,
        contact=(env.get("KAIRAN_CONTACT") or "").strip(),
        secret_key=secret_key,
        secret_key_file=secret_key_file,
        port=port,
        capture_port=capture_port,
        workers=_whole_number(env, "KAIRAN_WORKERS", os.cpu_count() or 1),
        trusted_proxies=_whole_number(env, "KAIRAN_TRUSTED_PROXIES", 0, minimum=0),
        admin_user=admin_user,
        admin_password=admin_password,
        require_2fa_admins=_flag(env, "KAIRAN_REQUIRE_2FA_ADMINS", False),
        embedded_redis=not env.get("KAIRAN_REDIS_URL"),
        embedded_smtp=not env.get("KAIRAN_SMTP_URL"),
        sending=_sending(env),
        tracking=_tracking(env),
        bounces=_bounces(env),
        webhooks=_webhooks(env),
    )
