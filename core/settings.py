"""Settings read from ``KAIRAN_*`` environment variables, validated once at start-up.

Core's own settings are fields of ``Settings``. Each package declares its own groups of settings
(``SettingsGroup``: mailer's sending, tracking's bounces …) in its settings module, with the readers
below, and ``load_settings`` reads and checks every declared group with core's.

Some settings an admin may also edit in the browser (``Editable``: the company's legal details, the
default sender, the time zone, tracking privacy, bounce thresholds). Their stored values
(core/stored_settings.py) are read by the same readers, with the same messages; a variable set in the
environment still wins.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from email.headerregistry import Address
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
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
    audit_retention_days: int = 730  # audit entries older than this are deleted (core/audit.py)
    movable_clock: bool = False  # tests and benchmarks move time (core/clock.py); never in production
    groups: Mapping[str, object] = field(default_factory=dict)  # each package's own, by name (SettingsGroup)
    env: Mapping[str, str] = field(default_factory=dict)  # the KAIRAN_* variables set (not empty) in the environment

    @property
    def redis_socket(self) -> Path:
        """Return where the embedded redis-server listens."""
        return self.data_dir / REDIS_SOCKET_FILE

    if not TYPE_CHECKING:  # hidden from the type checker: typed code reads a group through its SettingsGroup
        def __getattr__(self, name: str) -> object:
            """Return a package's group by its name (``settings.sending``): for templates, tests and untyped code."""
            groups = self.__dict__.get("groups", {})
            if name in groups:
                return groups[name]
            raise AttributeError(f"'Settings' object has no attribute {name!r}")


G = TypeVar("G")
_GROUPS: dict[str, SettingsGroup[Any]] = {}


class Kind(StrEnum):
    """How the Settings page asks for an editable setting."""

    TEXT = "text"
    NUMBER = "number"
    FLAG = "flag"
    CHOICE = "choice"


@dataclass(frozen=True)
class Editable:
    """A setting an admin may edit in the browser: its variable, its label, and how to show its value in force."""

    name: str  # the KAIRAN_* variable, which still wins when it is set
    label: Any  # a lazy string, in the reader's language
    section: Any
    shown: Callable[[Settings], str]  # the value in force, as the page and the API show it
    kind: Kind = Kind.TEXT
    choices: tuple[str, ...] = ()
    choice_labels: Mapping[str, Any] = field(default_factory=dict)  # a choice's words, when its value is a code
    hint: Any = ""
    empty_when_unset: bool = False  # the page shows it empty until set (a legal detail: the checklist asks for it)


_EDITABLE: dict[str, Editable] = {}


def declare_editable(*settings: Editable) -> None:
    """Let admins edit these settings in the browser (each package declares its own, in its settings module)."""
    for editable in settings:
        if editable.name in _EDITABLE:
            raise ValueError(f"{editable.name} is editable already.")
        _EDITABLE[editable.name] = editable


def editable_settings() -> list[Editable]:
    """Every editable setting, in the order they were declared (core's first)."""
    return list(_EDITABLE.values())


class SettingsGroup(Generic[G]):
    """A package's own group of settings, read and checked by ``load_settings`` with core's, at start.

    A package declares each of its groups once, in its settings module, which the package's
    ``__init__`` imports: ``SENDING = SettingsGroup("sending", read_sending)``. ``read`` gets the
    environment and core's settings (to check against them), and returns the group or raises
    SettingsError with one sentence naming the variable. ``SENDING.current()`` (in an app context)
    and ``SENDING.of(settings)`` return the group, typed as ``read`` returns it.
    """

    def __init__(self, name: str, read: Callable[[Mapping[str, str], Settings], G]) -> None:
        if name in _GROUPS or name in {f.name for f in fields(Settings)}:
            raise ValueError(f"A setting or settings group named {name!r} exists already.")
        self.name, self.read = name, read
        _GROUPS[name] = self

    def of(self, settings: Settings) -> G:
        """Return this group of the given settings."""
        return cast(G, settings.groups[self.name])

    def current(self) -> G:
        """Return this group of the current app's settings."""
        return self.of(current_app.config["KAIRAN"])


# Readers of one variable each, for core's settings and every package's group alike: unset or empty gives
# the default, and a bad value raises SettingsError with one sentence that names the variable.


def read_port(env: Mapping[str, str], name: str, default: int) -> int:
    """Read a TCP port number."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SettingsError(f"{name} must be a port number from 1 to 65535, not {raw!r}.")
    return int(raw)


def read_whole_number(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    """Read a whole number of at least ``minimum``."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SettingsError(_("%(name)s must be a whole number of %(minimum)d or more, not %(raw)r.", name=name,
                              minimum=minimum, raw=raw))
    return int(raw)


_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


def read_flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Read on or off (also 1/0, true/false, yes/no)."""
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw not in _ON + _OFF:
        raise SettingsError(_("%(name)s must be on or off (also 1/0, true/false, yes/no), not %(raw)r.", name=name,
                              raw=raw))
    return raw in _ON


def read_url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], default: str) -> str:
    """Read a URL with one of ``schemes``."""
    raw = env.get(name) or default
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.hostname or parts.path):
        raise SettingsError(_("%(name)s %(raw)r must be a URL starting with %(schemes)s.", name=name, raw=raw,
                              schemes=_(" or ").join(s + "://" for s in schemes)))
    return raw


def read_items(env: Mapping[str, str], name: str) -> list[str]:
    """Read a comma-separated list; blank items are dropped."""
    return [item for item in (part.strip() for part in (env.get(name) or "").split(",")) if item]


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


def _mail_from(env: Mapping[str, str], base_url: str, company: str) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    # Address() quotes what needs quoting but leaves Japanese readable; the mail policy encodes it on send.
    raw = env.get("KAIRAN_MAIL_FROM") or str(Address(display_name=company, addr_spec=f"kairan@{host}"))
    _name, address = parseaddr(raw)
    if "@" not in address or any(c in raw for c in "\r\n"):
        raise SettingsError(_("KAIRAN_MAIL_FROM %(raw)r must be an address such as 'News <news@example.com>'.",
                              raw=raw))
    return raw


def _test_subject_prefix(env: Mapping[str, str]) -> str | None:
    raw = (env.get("KAIRAN_TEST_SUBJECT_PREFIX") or "").strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):  # it goes into a Subject header
        raise SettingsError("KAIRAN_TEST_SUBJECT_PREFIX must be one line of text, such as [TEST].")
    return raw or None


MAX_LINE = 500  # a campaign keeps the sender's name, address and contact in columns this long


def _line(env: Mapping[str, str], name: str, default: str = "") -> str:
    """Read one line of text (it reaches mail headers and every footer), at most MAX_LINE characters."""
    raw = (env.get(name) or default).strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in raw) or len(raw) > MAX_LINE:
        raise SettingsError(_("%(name)s must be one line of text of at most %(max)d characters.", name=name,
                              max=MAX_LINE))
    return raw


def _contact(env: Mapping[str, str]) -> str:
    """Read where readers reach the sender: a phone number, a URL or other line of text, but an email address
    when it has an @ (a bad one in every footer the law asks for reaches no one)."""
    raw = _line(env, "KAIRAN_CONTACT")
    if "@" in unicodedata.normalize("NFKC", raw) and not raw.lower().startswith(("http://", "https://")):
        try:
            validate_email(unicodedata.normalize("NFKC", raw), check_deliverability=False)
        except EmailNotValidError:
            raise SettingsError(_("KAIRAN_CONTACT %(raw)r has an @ but is not an email address such as "
                                  "info@example.jp.", raw=raw)) from None
    return raw


def _logo_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("KAIRAN_LOGO_URL")
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname:  # mail clients block or warn about images over http
        raise SettingsError(_("KAIRAN_LOGO_URL %(raw)r must start with https://, as browsers and mail clients block or "
                              "warn about images over http.", raw=raw))
    return raw


def _timezone(env: Mapping[str, str]) -> str:
    name = env.get("KAIRAN_TIMEZONE") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(_("KAIRAN_TIMEZONE %(name)r is not a time zone name such as Asia/Tokyo or UTC.",
                              name=name)) from None
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


def load_settings(env: Mapping[str, str] | None = None, stored: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every ``KAIRAN_*`` setting, core's and every declared group's, raising SettingsError
    on the first bad one; an editable setting's ``stored`` value counts where its variable is not set."""
    set_in_env = {k: v for k, v in (os.environ if env is None else env).items() if k.startswith("KAIRAN_") and v}
    env = {**{k: v for k, v in (stored or {}).items() if k in _EDITABLE}, **set_in_env}
    data_dir = _data_dir(env)
    port = read_port(env, "KAIRAN_PORT", DEFAULT_PORT)
    capture_port = read_port(env, "KAIRAN_CAPTURE_PORT", DEFAULT_CAPTURE_PORT)
    if port == capture_port:
        raise SettingsError("KAIRAN_CAPTURE_PORT must differ from KAIRAN_PORT.")
    redis_default = f"unix://{data_dir / REDIS_SOCKET_FILE}"
    smtp_default = f"smtp://127.0.0.1:{capture_port}"
    admin_user = env.get("KAIRAN_ADMIN_USER") or None
    admin_password = env.get("KAIRAN_ADMIN_PASSWORD") or None
    if bool(admin_user) != bool(admin_password):
        raise SettingsError("KAIRAN_ADMIN_USER and KAIRAN_ADMIN_PASSWORD must be set together.")
    base_url = read_url(env, "KAIRAN_BASE_URL", ("http", "https"), f"http://127.0.0.1:{port}").rstrip("/")
    company = _line(env, "KAIRAN_COMPANY_NAME", "Kairan") or "Kairan"
    secret_key, secret_key_file = _secret_key(env, data_dir)
    core = Settings(
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        redis_url=read_url(env, "KAIRAN_REDIS_URL", ("redis", "rediss", "unix"), redis_default),
        smtp_url=read_url(env, "KAIRAN_SMTP_URL", SUPPORTED_SMTP_SCHEMES, smtp_default),
        base_url=base_url,
        mail_from=_mail_from(env, base_url, company),
        bounce_domain=(env.get("KAIRAN_BOUNCE_DOMAIN") or "").strip().lower() or None,
        company_name=company,
        timezone=_timezone(env),
        logo_url=_logo_url(env),
        test_subject_prefix=_test_subject_prefix(env),
        postal_address=_line(env, "KAIRAN_POSTAL_ADDRESS"),
        media_s3_url=read_url(env, "KAIRAN_MEDIA_S3_URL", ("http", "https"), "") if env.get("KAIRAN_MEDIA_S3_URL")
        else None,
        media_public_url=read_url(env, "KAIRAN_MEDIA_PUBLIC_URL", ("http", "https"), "").rstrip("/")
        if env.get("KAIRAN_MEDIA_PUBLIC_URL") else None,
        contact=_contact(env),
        secret_key=secret_key,
        secret_key_file=secret_key_file,
        port=port,
        capture_port=capture_port,
        workers=read_whole_number(env, "KAIRAN_WORKERS", os.cpu_count() or 1),
        trusted_proxies=read_whole_number(env, "KAIRAN_TRUSTED_PROXIES", 0, minimum=0),
        admin_user=admin_user,
        admin_password=admin_password,
        require_2fa_admins=read_flag(env, "KAIRAN_REQUIRE_2FA_ADMINS", False),
        embedded_redis=not env.get("KAIRAN_REDIS_URL"),
        embedded_smtp=not env.get("KAIRAN_SMTP_URL"),
        audit_retention_days=read_whole_number(env, "KAIRAN_AUDIT_RETENTION_DAYS", 730),
        movable_clock=read_flag(env, "KAIRAN_MOVABLE_CLOCK", False),
        env=set_in_env,
    )
    # Then every package's groups, each checked against core's settings where it must (tracking's bounce port).
    return replace(core, groups={name: group.read(env, core) for name, group in _GROUPS.items()})


_LEGAL, _SENDER = _l("Sender (特定電子メール法)"), _l("Sending")
declare_editable(
    Editable("KAIRAN_COMPANY_NAME", _l("Company name"), _LEGAL, lambda s: s.company_name,
             hint=_l("Shown on public pages and in every campaign's footer."), empty_when_unset=True),
    Editable("KAIRAN_POSTAL_ADDRESS", _l("Postal address"), _LEGAL, lambda s: s.postal_address,
             hint=_l("The law asks for it in every campaign's footer."), empty_when_unset=True),
    Editable("KAIRAN_CONTACT", _l("Contact"), _LEGAL, lambda s: s.contact,
             hint=_l("Where readers reach you: an address, a URL or a phone number."), empty_when_unset=True),
    Editable("KAIRAN_LOGO_URL", _l("Logo URL"), _LEGAL, lambda s: s.logo_url or "",
             hint=_l("Shown on public pages (https://…)."), empty_when_unset=True),
    Editable("KAIRAN_MAIL_FROM", _l("Default sender"), _SENDER, lambda s: s.mail_from,
             hint=_l("Kairan's own mail, and campaigns without a From of their own.")),
    Editable("KAIRAN_TIMEZONE", _l("Time zone"), _SENDER, lambda s: s.timezone,
             hint=_l("Times on the pages, sending windows and quiet hours are in it.")),
)
