"""SMTP relays: the configured ones (Settings → SMTP relays), or KAIRAN_SMTP_URL when none is enabled.

Senders pick a relay by weight among the healthy ones. A relay that fails FAILURES_TO_TAKE_OUT
times in a row (refused, timed out, dropped, 421) is taken out for KAIRAN_RELAY_TAKE_OUT_SECONDS; the state
lives in Redis, so every worker on every machine sees it and the others carry the mail meanwhile.
Passwords are stored Fernet-encrypted with the secret key and never shown back.
"""

from __future__ import annotations

import random
import smtplib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography.fernet import InvalidToken
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from core.checklist import mark_done
from core.crypto import cipher
from core.db import db
from core.errors import NotFoundError, ValidationError
from core.inputs import flag, typed_whole_number
from core.queues import redis
from core.validation import FieldChecks, choice
from mailer import checklist
from mailer.models import RelaySecurity, SMTPRelayConfig
from mailer.transport import NoRouteError

SMTP_TIMEOUT = 10.0  # seconds for connect and each command
TEST_TIMEOUT = 5.0  # the test button answers within seconds, even for a relay that never answers
FAILURES_TO_TAKE_OUT = 3  # consecutive failures that take a relay out
FAILURE_MEMORY_SECONDS = 600  # failures further apart than this are not "in a row"
CACHE_SECONDS = 5.0  # how long a process reuses the relay list (the send loop asks often)
SUCCESS_RESET_SECONDS = 5.0  # a process that saw no failure still ends other workers' runs this often
URL_KEY = "url"  # the Redis key part of the KAIRAN_SMTP_URL relay
DEFAULT_MAX_CONNECTIONS = 4  # per worker, when a relay does not say (KAIRAN_SMTP_URL: KAIRAN_SEND_CONNECTIONS)
LIMITS = {"port": (1, 65535), "max_connections": (1, 100), "weight": (1, 1000), "rate_per_second": (1, 100_000)}

_failing_here: set[str] = set()  # relays this process counted a failure for: reset at their next success
_reset_at: dict[str, float] = {}  # when this process last reset a relay's count (monotonic clock)


class AllRelaysOutError(NoRouteError):
    """Every relay is taken out after repeated failures; sending waits until one comes back."""


@dataclass(frozen=True)
class Relay:
    """Where and how to hand mail over; built from a settings row or from KAIRAN_SMTP_URL."""

    key: str  # URL_KEY, or the row id: names the relay's health in Redis
    name: str
    host: str
    port: int
    security: RelaySecurity
    username: str | None
    password: str | None = field(repr=False)  # never in logs
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    weight: int = 1
    rate_per_second: int | None = None

    @classmethod
    def from_url(cls, url: str, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> Relay:
        """Parse ``smtp://``, ``smtps://`` (TLS) or ``smtp+starttls://user:pass@host:587``."""
        parts = urlsplit(url)
        security = {"smtps": RelaySecurity.TLS, "smtp+starttls": RelaySecurity.STARTTLS}.get(
            parts.scheme, RelaySecurity.NONE)
        return cls(key=URL_KEY, name="KAIRAN_SMTP_URL", host=parts.hostname or "127.0.0.1",
                   port=parts.port or (465 if security == RelaySecurity.TLS else 25), security=security,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None, max_connections=max_connections)

    @classmethod
    def from_config(cls, config: SMTPRelayConfig) -> Relay:
        """Build the runtime relay of a settings row, its password decrypted."""
        return cls(key=str(config.id), name=config.name, host=config.host, port=config.port,
                   security=config.security, username=config.username or None,
                   password=_decrypt(config.password), max_connections=config.max_connections,
                   weight=config.weight, rate_per_second=config.rate_per_second)

    def connect(self, timeout: float = SMTP_TIMEOUT) -> smtplib.SMTP:
        """Open a connection, protected as configured and authenticated when a user name is set."""
        conn = self._open(timeout)
        try:
            self._start_tls(conn)
            self._log_in(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def describe(self) -> str:
        """Return host:port without credentials, for pages and logs."""
        return f"{self.host}:{self.port}"

    def _open(self, timeout: float) -> smtplib.SMTP:
        if self.security == RelaySecurity.TLS:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=ssl.create_default_context())
        return smtplib.SMTP(self.host, self.port, timeout=timeout)

    def _start_tls(self, conn: smtplib.SMTP) -> None:
        if self.security == RelaySecurity.STARTTLS:
            conn.starttls(context=ssl.create_default_context())

    def _log_in(self, conn: smtplib.SMTP) -> None:
        if self.username:
            conn.login(self.username, self.password or "")


def _decrypt(token: str) -> str | None:
    if not token:
        return None
    try:
        return cipher("relay").decrypt(token.encode()).decode()
    except InvalidToken:  # stored under another secret key: the test button says authentication fails
        return None


# Which relays there are -----------------------------------------------------------------------------


def active_relays() -> list[Relay]:
    """Return the enabled relays, or the KAIRAN_SMTP_URL one when none is; reused for CACHE_SECONDS."""
    cached = current_app.extensions.get("kairan_relays")
    now = time.monotonic()
    if cached and cached[0] > now:
        return list(cached[1])
    rows = db.session.scalars(select(SMTPRelayConfig).where(SMTPRelayConfig.enabled).order_by(SMTPRelayConfig.id))
    settings = current_app.config["KAIRAN"]
    # KAIRAN_SMTP_URL has no connection limit of its own: a worker opens KAIRAN_SEND_CONNECTIONS to it.
    relays = [Relay.from_config(row) for row in rows] or [Relay.from_url(settings.smtp_url,
                                                                         settings.sending.connections)]
    current_app.extensions["kairan_relays"] = (now + CACHE_SECONDS, relays)
    return list(relays)


def forget_cached_relays() -> None:
    """Make this process read the relays again (after a change in the settings)."""
    current_app.extensions.pop("kairan_relays", None)


# Health: taken out after repeated failures, shared through Redis --------------------------------------


def _failures_key(relay_key: str) -> str:
    return f"kairan:relay:{relay_key}:failures"


def _out_key(relay_key: str) -> str:
    return f"kairan:relay:{relay_key}:out"


def taken_out_until(relays: Sequence[Relay]) -> dict[str, datetime]:
    """Return, for each relay that is out, when it comes back (one Redis round trip)."""
    return _out_until([relay.key for relay in relays])


def _out_until(relay_keys: Sequence[str]) -> dict[str, datetime]:
    if not relay_keys:
        return {}
    values = redis().mget([_out_key(key) for key in relay_keys])
    return {key: datetime.fromtimestamp(float(value), UTC)
            for key, value in zip(relay_keys, values, strict=True) if value is not None}


def healthy(relays: Sequence[Relay]) -> list[Relay]:
    """Return the relays that are not taken out."""
    out = taken_out_until(relays)
    return [relay for relay in relays if relay.key not in out]


def pick(relays: Sequence[Relay], rng: random.Random | None = None) -> Relay | None:
    """Pick a healthy relay at random, in proportion to its weight; None when all are out."""
    candidates = healthy(relays)
    if not candidates:
        return None
    return (rng or random).choices(candidates, weights=[relay.weight for relay in candidates])[0]


def report_failure(relay: Relay) -> None:
    """Count a failure (refused, timed out, dropped, 421); the FAILURES_TO_TAKE_OUT-th in a row takes it out."""
    client = redis()
    with client.pipeline() as pipe:
        pipe.incr(_failures_key(relay.key))
        pipe.expire(_failures_key(relay.key), FAILURE_MEMORY_SECONDS)
        failures = int(pipe.execute()[0])
    _failing_here.add(relay.key)
    if failures >= FAILURES_TO_TAKE_OUT:
        seconds = current_app.config["KAIRAN"].sending.relay_take_out_seconds
        until = time.time() + seconds
        with client.pipeline() as pipe:
            pipe.set(_out_key(relay.key), repr(until), px=max(1, round(seconds * 1000)))
            pipe.delete(_failures_key(relay.key))  # back in service, it gets FAILURES_TO_TAKE_OUT tries again
            pipe.execute()


def report_success(relay: Relay) -> None:
    """End a run of failures. Called per message, so Redis is touched only after a failure seen here,
    or every SUCCESS_RESET_SECONDS (failures counted by other workers, or by an earlier forked job).
    """
    now = time.monotonic()
    last = _reset_at.get(relay.key)
    if relay.key in _failing_here or last is None or now - last >= SUCCESS_RESET_SECONDS:
        _failing_here.discard(relay.key)
        _reset_at[relay.key] = now
        redis().delete(_failures_key(relay.key))


def is_relay_failure(error: BaseException) -> bool:
    """Tell whether an error says the relay itself is failing (rather than refusing one message).

    A refused greeting or login counts too: it fails every message until someone fixes the settings.
    """
    if isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPAuthenticationError):
        return True
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code == 421
    if isinstance(error, smtplib.SMTPException):
        return isinstance(error, smtplib.SMTPServerDisconnected)
    return isinstance(error, OSError)  # refused, timed out, reset, TLS


def _forget_health(relay_key: str) -> None:
    redis().delete(_failures_key(relay_key), _out_key(relay_key))


# The test button -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionTest:
    """What the test button found: ok, and a sentence saying what happened."""

    ok: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Serialise for the API."""
        return {"ok": self.ok, "message": self.message}


def test_connection(relay: Relay, timeout: float = TEST_TIMEOUT) -> ConnectionTest:
    """Connect, EHLO, STARTTLS and AUTH as configured, NOOP; say in the user's language what failed."""
    target = relay.describe()
    step = "connect"
    try:
        conn = relay._open(timeout)  # the steps of connect(), one at a time
        try:
            step = "ehlo"
            code, reply = conn.ehlo()
            if code != 250:
                raise smtplib.SMTPResponseException(code, reply)
            step = "tls"
            relay._start_tls(conn)
            step = "auth"
            relay._log_in(conn)
            step = "noop"
            code, reply = conn.noop()
            if code != 250:
                raise smtplib.SMTPResponseException(code, reply)
        finally:
            conn.close()
    except Exception as error:  # noqa: BLE001 - every failure becomes a sentence for the admin
        return ConnectionTest(False, _explain(error, step, relay, timeout))
    if relay.username:
        return ConnectionTest(True, _("Connected to %(relay)s: it answered EHLO and NOOP, and accepted the login.",
                                      relay=target))
    return ConnectionTest(True, _("Connected to %(relay)s: it answered EHLO and NOOP.", relay=target))


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
    return f"{error.smtp_code} {' '.join(text.split())}"


def _explain(error: BaseException, step: str, relay: Relay, timeout: float) -> str:  # noqa: PLR0911 - one case each
    target = relay.describe()
    if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, OSError):
        error = error.__context__  # smtplib turns a timeout or reset while reading a reply into "disconnected"
    if isinstance(error, ConnectionRefusedError):
        return _("%(relay)s refused the connection: nothing listens on that port, or a firewall blocks it.",
                 relay=target)
    if isinstance(error, TimeoutError):  # socket.timeout is TimeoutError
        return _("%(relay)s did not answer within %(seconds)s seconds.", relay=target, seconds=f"{timeout:g}")
    if isinstance(error, socket.gaierror):
        return _("The host %(host)s was not found.", host=relay.host)
    if isinstance(error, ssl.SSLError):
        return _("TLS with %(relay)s failed: %(reason)s.", relay=target, reason=error.reason or error)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        if step == "tls":
            return _("%(relay)s does not offer STARTTLS.", relay=target)
        return _("%(relay)s does not offer authentication (AUTH); some servers offer it only over TLS.",
                 relay=target)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return _("%(relay)s refused the user name or password: %(reply)s", relay=target, reply=_reply(error))
    if isinstance(error, smtplib.SMTPResponseException):
        return _("%(relay)s answered: %(reply)s", relay=target, reply=_reply(error))
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return _("%(relay)s closed the connection.", relay=target)
    return _("Could not talk to %(relay)s: %(error)s", relay=target, error=f"{type(error).__name__}: {error}")


# Settings: add, change, delete ---------------------------------------------------------------------

FIELDS = ("name", "host", "port", "security", "username", "password", "max_connections", "weight",
          "rate_per_second", "enabled")


def all_relays() -> list[SMTPRelayConfig]:
    """Return every configured relay, in the order they were added."""
    return list(db.session.scalars(select(SMTPRelayConfig).order_by(SMTPRelayConfig.id)))


def get_relay(relay_id: int) -> SMTPRelayConfig:
    """Return a configured relay or raise NotFoundError."""
    found = db.session.get(SMTPRelayConfig, relay_id)
    if found is None:
        raise NotFoundError(_("SMTP relay not found."))
    return found


def add_relay(data: Mapping[str, Any], names: Mapping[str, Any] | None = None) -> SMTPRelayConfig:
    """Add a relay from a form or an API body; every bad field is refused at once (FieldsRefusedError), its
    message naming it by ``names`` (a form's labels; else the API's parameter)."""
    config = SMTPRelayConfig()
    _apply(config, data, FieldChecks(names), adding=True)
    db.session.add(config)
    db.session.commit()
    forget_cached_relays()
    return config


def update_relay(config: SMTPRelayConfig, data: Mapping[str, Any],
                 names: Mapping[str, Any] | None = None) -> SMTPRelayConfig:
    """Change a relay as add_relay adds one; fields left out keep their value, an empty password the stored one."""
    _apply(config, data, FieldChecks(names), adding=False)
    db.session.commit()
    forget_cached_relays()
    _forget_health(str(config.id))  # new settings deserve a fresh start
    return config


def delete_relay(config: SMTPRelayConfig) -> None:
    """Delete a relay (when none is left enabled, KAIRAN_SMTP_URL carries the mail again)."""
    relay_key = str(config.id)
    db.session.delete(config)
    db.session.commit()
    forget_cached_relays()
    _forget_health(relay_key)


def _apply(config: SMTPRelayConfig, data: Mapping[str, Any], checks: FieldChecks, *, adding: bool) -> None:
    """Validate every given field, then set them all (nothing is set when one is bad)."""
    def given(name: str) -> bool:
        return adding or name in data

    values: dict[str, Any] = {}
    if given("host"):
        values["host"] = checks.run("host", lambda: _host(data.get("host"), checks.name("host")), "")
    if given("name"):
        values["name"] = checks.run("name", lambda: _text(data.get("name"), checks.name("name"), 100), "") or (
            values.get("host") or config.host)
    for name, (low, high) in LIMITS.items():
        if given(name):
            column_default = SMTPRelayConfig.__table__.c[name].default  # rate_per_second has none: no limit
            values[name] = checks.run(name, partial(typed_whole_number, data.get(name), checks.name(name),
                                                    minimum=low, maximum=high,
                                                    default=column_default.arg if column_default else None), None)
    if given("security"):
        values["security"] = checks.run("security", lambda: choice(
            RelaySecurity, data.get("security"), checks.name("security"), RelaySecurity.NONE), None)
    if given("username"):
        values["username"] = checks.run("username", lambda: _text(data.get("username"), checks.name("username"),
                                                                  200), "")
    if given("enabled"):
        values["enabled"] = checks.run("enabled", lambda: flag(data.get("enabled"), checks.name("enabled"),
                                                               default=True), True)
    checks.refuse_any()
    password = data.get("password")
    if password not in (None, ""):
        values["password"] = cipher("relay").encrypt(str(password).encode()).decode()
    if values.get("username", config.username) == "":
        values["password"] = ""  # no user name, no login: a stored password would only linger
    for name, value in values.items():
        setattr(config, name, value)


def _text(value: Any, name: str, max_length: int) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > max_length:
        raise ValidationError(_("%(field)s can be at most %(max)s characters.", field=name, max=max_length), field=name)
    return text


def _host(value: Any, field: str) -> str:
    host = _text(value, field, 253)
    if not host:
        raise ValidationError(_("Enter the relay's host name or IP address."), field="host")
    if any(character.isspace() or character in "/@" for character in host):
        raise ValidationError(_("%(value)s is not a host name or IP address (such as smtp.example.jp).",
                                value=host), field="host")
    return host


def relay_as_dict(config: SMTPRelayConfig, out_until: datetime | None = None) -> dict[str, Any]:
    """Serialise a relay for the API and the page (never its password, only whether one is set)."""
    return {"id": config.id, "name": config.name, "host": config.host, "port": config.port,
            "security": config.security.value, "username": config.username, "has_password": bool(config.password),
            "max_connections": config.max_connections, "weight": config.weight,
            "rate_per_second": config.rate_per_second, "enabled": config.enabled,
            "taken_out_until": out_until.isoformat() if out_until else None,
            "created_at": config.created_at.isoformat(), "updated_at": config.updated_at.isoformat()}


def out_until_by_id(configs: Sequence[SMTPRelayConfig]) -> dict[int, datetime]:
    """Return, for each configured relay that is taken out, when it comes back."""
    out = _out_until([str(config.id) for config in configs])
    return {config.id: out[str(config.id)] for config in configs if str(config.id) in out}


def test_saved(config: SMTPRelayConfig) -> ConnectionTest:
    """Test a configured relay's connection as it is saved (a pass is the setup checklist's step)."""
    result = test_connection(Relay.from_config(config))
    if result.ok:
        mark_done(checklist.RELAY)
    return result


test_connection.__test__ = False  # type: ignore[attr-defined]  # pytest: not a test, even when imported into one
test_saved.__test__ = False  # type: ignore[attr-defined]
