"""Settings read from ``KAIRAN_*`` environment variables, validated once at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Defaults, named so the README table and the code cannot drift apart.
DEFAULT_DATA_DIR = "instance"
DEFAULT_PORT = 5000
DEFAULT_CAPTURE_PORT = 2525
DEFAULT_TIMEZONE = "Asia/Tokyo"  # Kairan's users are mostly in Japan
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
REDIS_SOCKET_FILE = "redis.sock"
SUPPORTED_DATABASES = ("sqlite", "postgresql")
SUPPORTED_SMTP_SCHEMES = ("smtp", "smtps", "smtp+starttls")


class SettingsError(click.ClickException):
    """A setting has a value Kairan cannot use; the message is one sentence naming it."""


@dataclass(frozen=True)
class Settings:
    """The effective configuration of one Kairan installation."""

    data_dir: Path
    database_url: str
    redis_url: str
    smtp_url: str
    base_url: str
    secret_key: str
    port: int
    capture_port: int
    workers: int
    mail_from: str  # sender of Kairan's own mail (test messages, opt-in confirmations)
    company_name: str  # shown on public pages and in Kairan's own mail
    timezone: str  # the UI shows times in it (stored times are UTC)
    logo_url: str | None  # shown on public pages
    postal_address: str  # 特定電子メール法: the sender's address, in every campaign's footer
    contact: str  # 特定電子メール法: where readers reach the sender (an address, a URL or a phone number)
    media_s3_url: str | None  # S3-compatible storage for uploaded images (several web machines); else data_dir
    media_public_url: str | None  # where readers load those images from (a CDN or the bucket's public URL)
    admin_user: str | None
    admin_password: str | None
    embedded_redis: bool  # Kairan starts its own redis-server on a socket in data_dir
    embedded_smtp: bool  # mail goes to the built-in capture server (the Outbox)

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


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name} must be a whole number of 1 or more, not {raw!r}.")
    return int(raw)


def _data_dir(env: Mapping[str, str]) -> Path:
    path = Path(env.get("KAIRAN_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
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


def _timezone(env: Mapping[str, str]) -> str:
    name = env.get("KAIRAN_TIMEZONE") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"KAIRAN_TIMEZONE {name!r} is not a time zone name such as Asia/Tokyo or UTC.") from None
    return name


def _secret_key(env: Mapping[str, str], data_dir: Path) -> str:
    if env.get("KAIRAN_SECRET_KEY"):
        if len(env["KAIRAN_SECRET_KEY"]) < 16:
            raise SettingsError("KAIRAN_SECRET_KEY must be at least 16 characters long.")
        return env["KAIRAN_SECRET_KEY"]
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        # Created with 0600 so other local users cannot forge sessions or tokens.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every ``KAIRAN_*`` setting, raising SettingsError on the first bad one."""
    env = os.environ if env is None else env
    data_dir = _data_dir(env)
    port = _port(env, "KAIRAN_PORT", DEFAULT_PORT)
    capture_port = _port(env, "KAIRAN_CAPTURE_PORT", DEFAULT_CAPTURE_PORT)
    if port == capture_port:
        raise SettingsError("KAIRAN_CAPTURE_PORT must differ from KAIRAN_PORT.")
    redis_default = f"unix://{data_dir / REDIS_SOCKET_FILE}"
    smtp_default = f"smtp://127.0.0.1:{capture_port}"
    admin_user = env.get("KAIRAN_ADMIN_USER") or None
    admin_password = env.get("KAIRAN_ADMIN_PASSWORD") or None
    if bool(admin_user) != bool(admin_password):
        raise SettingsError("KAIRAN_ADMIN_USER and KAIRAN_ADMIN_PASSWORD must be set together.")
    base_url = _url(env, "KAIRAN_BASE_URL", ("http", "https"), f"http://127.0.0.1:{port}").rstrip("/")
    company = (env.get("KAIRAN_COMPANY_NAME") or "Kairan").strip()
    return Settings(
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        redis_url=_url(env, "KAIRAN_REDIS_URL", ("redis", "rediss", "unix"), redis_default),
        smtp_url=_url(env, "KAIRAN_SMTP_URL", SUPPORTED_SMTP_SCHEMES, smtp_default),
        base_url=base_url,
        mail_from=_mail_from(env, base_url, company),
        company_name=company,
        timezone=_timezone(env),
        logo_url=_url(env, "KAIRAN_LOGO_URL", ("http", "https"), env["KAIRAN_LOGO_URL"]) if env.get("KAIRAN_LOGO_URL")
        else None,
        postal_address=(env.get("KAIRAN_POSTAL_ADDRESS") or "").strip(),
        media_s3_url=_url(env, "KAIRAN_MEDIA_S3_URL", ("http", "https"), "") if env.get("KAIRAN_MEDIA_S3_URL")
        else None,
        media_public_url=_url(env, "KAIRAN_MEDIA_PUBLIC_URL", ("http", "https"), "").rstrip("/")
        if env.get("KAIRAN_MEDIA_PUBLIC_URL") else None,
        contact=(env.get("KAIRAN_CONTACT") or "").strip(),
        secret_key=_secret_key(env, data_dir),
        port=port,
        capture_port=capture_port,
        workers=_positive_int(env, "KAIRAN_WORKERS", os.cpu_count() or 1),
        admin_user=admin_user,
        admin_password=admin_password,
        embedded_redis=not env.get("KAIRAN_REDIS_URL"),
        embedded_smtp=not env.get("KAIRAN_SMTP_URL"),
    )
