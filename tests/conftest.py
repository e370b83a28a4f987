"""Fixtures: a real redis-server, a real database per test (SQLite, and PostgreSQL when asked)."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from jinja2.bccache import Bucket, BytecodeCache
from redis import Redis
from werkzeug.routing.rules import Rule

import core.clock
import core.two_factor
import core.users
import core.views
from app import create_app
from core.db import db
from core.embedded import private_redis
from core.users import create_user
from mailer.capture import start_capture
from mailer.outbox import Outbox
from tests.helpers import PASSWORD, ROLES, Clock
from tests.mailer.helpers import Received, check_login
from tests.resources import PostgresSnapshot, free_port, free_ports, fresh_postgres, postgres_beside

# The suite's own controls; every other KAIRAN_* variable of the caller's shell is dropped before any
# test runs (pytest_configure), so a developer's exported settings never reach the apps and the
# processes the tests start: each test's settings are settings_env's alone.
SUITE_CONTROLS = ("KAIRAN_TEST_DATABASE_URL", "KAIRAN_SCREENSHOTS")
_DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("KAIRAN_TEST_DATABASE_URL") else [])


def pytest_configure(config: pytest.Config) -> None:
    """Forget the caller's Kairan settings (see SUITE_CONTROLS); do once what every test would do again."""
    for name in [name for name in os.environ if name.startswith("KAIRAN_") and name not in SUITE_CONTROLS]:
        del os.environ[name]
    _build_each_route_builder_once()
    _hash_each_password_once()


def _build_each_route_builder_once() -> None:
    """Werkzeug compiles two URL builder functions for each of the ~200 routes of each app, from an AST: 0.1 s of
    CPU of the 0.15 s that create_app takes, in every test. A builder is the same function for the same route (it
    reads the rule's converters when called), so the tests' apps share them."""
    compile_builder = Rule._compile_builder
    builders: dict[tuple[object, ...], Any] = {}

    def shared(rule: Rule, append_unknown: bool = True) -> Any:
        key = (tuple(rule._trace), repr(sorted((rule.defaults or {}).items())), append_unknown)
        if key not in builders:
            builders[key] = compile_builder(rule, append_unknown)
        return builders[key]

    Rule._compile_builder = shared  # type: ignore[method-assign, assignment]


def _hash_each_password_once() -> None:
    """Kairan's password hash (werkzeug's scrypt) costs ~0.1 s of CPU, by design; most tests make three people and
    sign one in. The tests' process hashes each password once and checks each (hash, password) pair once: the
    answers are the real functions' (a hash is as good as another of the same password)."""
    core.users.generate_password_hash = functools.cache(core.users.generate_password_hash)
    core.users.check_password_hash = functools.cache(core.users.check_password_hash)


class _SharedTemplateCode(BytecodeCache):
    """The pages' templates compiled once for the tests' process, not once per test's app (rendering the login
    page took 42 ms of CPU in a new app, 17 ms with the compiled code kept); Jinja checks each template's
    source against the code it keeps."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CODE = _SharedTemplateCode()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the redis-server binary Kairan itself starts, on a Unix socket, for the whole session."""
    with private_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


def _migrate(folder: Path, database_url: str, redis_url: str) -> None:
    app = create_app({"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database_url,
                      "KAIRAN_REDIS_URL": redis_url})
    with app.app_context():
        upgrade()
        if database_url.startswith("sqlite"):
            with db.engine.connect() as connection:  # everything into the file itself, none left in its WAL
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Path:
    """One SQLite database migrated to the head, copied for each test (migrating each anew took ~0.5 s)."""
    folder = tmp_path_factory.mktemp("migrated")
    _migrate(folder, f"sqlite:///{folder / 'kairan.db'}", redis_url)
    return folder / "kairan.db"


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> str:
    """KAIRAN_TEST_DATABASE_URL's database or, when pytest-xdist runs the suite in workers, each worker's own
    beside it on the same server (…/test gives …/test_gw0, …/test_gw1, …), made when missing."""
    url = os.environ["KAIRAN_TEST_DATABASE_URL"]
    return url if worker_id == "master" else postgres_beside(url, worker_id)


@pytest.fixture(scope="session")
def migrated_postgres(tmp_path_factory: pytest.TempPathFactory, redis_url: str,
                      postgres_url: str) -> PostgresSnapshot | None:
    """The database migrated once and snapshotted, or None without pg_dump (each test then migrates)."""
    fresh_postgres(postgres_url)
    _migrate(tmp_path_factory.mktemp("migrated-pg"), postgres_url, redis_url)
    return PostgresSnapshot(postgres_url) if shutil.which("pg_dump") else None


@pytest.fixture(params=_DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for one test: a copy of the migrated SQLite file, or the PostgreSQL database put back as the
    migrations left it; an empty one for a test marked ``unmigrated`` (it runs the migrations it tests itself)."""
    migrated = request.node.get_closest_marker("unmigrated") is None
    if request.param == "sqlite":
        copy = tmp_path / "kairan.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), copy)
        return f"sqlite:///{copy}"
    if not migrated:
        return fresh_postgres(request.getfixturevalue("postgres_url"))
    snapshot = request.getfixturevalue("migrated_postgres")
    if snapshot is not None:
        return snapshot.restore()
    url = fresh_postgres(request.getfixturevalue("postgres_url"))
    _migrate(tmp_path / "migrating", url, request.getfixturevalue("redis_url"))
    return url


@pytest.fixture
def settings_env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """KAIRAN_* settings of one test's installation (free ports, its own data folder)."""
    Redis.from_url(redis_url).flushall()
    capture_port, bounce_port = free_ports(2)
    return {
        "KAIRAN_DATA_DIR": str(tmp_path / "data"),
        "KAIRAN_DATABASE_URL": database_url,
        "KAIRAN_REDIS_URL": redis_url,
        "KAIRAN_CAPTURE_PORT": str(capture_port),
        "KAIRAN_BOUNCE_PORT": str(bounce_port),
        "KAIRAN_WORKERS": "1",
        # 特定電子メール法: no campaign is sent without the sender's name, address and contact (tests of that
        # remove them); the layouts' legal footer shows them.
        "KAIRAN_COMPANY_NAME": "回覧商事",
        "KAIRAN_POSTAL_ADDRESS": "大阪市北区1-2-3",
        "KAIRAN_CONTACT": "info@kairan.example",
    }


@pytest.fixture
def app(settings_env: dict[str, str]) -> Iterator[Flask]:
    """The app on a migrated database.

    No app context stays pushed: a request reuses a pushed context, and with it ``g``
    (the signed-in user, the locale), which would hide bugs. Tests that call services
    directly use the ``ctx`` fixture or ``with app.app_context()``.
    """
    app = create_app({**settings_env, "TESTING": True})
    app.jinja_env.bytecode_cache = _TEMPLATE_CODE
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def moving(app: Flask, settings_env: dict[str, str]) -> Iterator[Flask]:
    """The installation with the movable clock on, as its workers run it (made after ``app``, whose clock is the
    system's: the clock is the process's, and the last app made sets it)."""
    moved = create_app({**settings_env, "TESTING": True, "KAIRAN_MOVABLE_CLOCK": "true"})
    yield moved
    with moved.app_context():
        db.engine.dispose()
    core.clock.use_system()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An app context for a test that calls services and makes no requests."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def users(app: Flask) -> dict[str, str]:
    """One person per role, username = role, all with PASSWORD."""
    with app.app_context():
        for role in ROLES:
            create_user(role, PASSWORD, role)
    return {role: role for role in ROLES}


@pytest.fixture
def capture(app: Flask) -> Iterator[Outbox]:
    """The capture SMTP server on the app's capture port; yield the Outbox it fills."""
    settings = app.config["KAIRAN"]
    controller = start_capture(Outbox.folder(settings.data_dir), settings.capture_port)
    yield Outbox(Outbox.folder(settings.data_dir))
    controller.stop()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock two-factor login reads, moved by the test (clock.advance)."""
    moved = Clock()
    for module in (core.two_factor, core.views):
        monkeypatch.setattr(module, "utcnow", moved.now)
    return moved


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[int, Received]]]:
    """Start aiosmtpd servers on free loopback ports (with AUTH when asked); yield a starter giving port and handler."""
    controllers: list[Controller] = []

    def start(auth: bool = False) -> tuple[int, Received]:
        handler, port = Received(), free_port()
        extra: dict[str, Any] = {"authenticator": check_login, "auth_require_tls": False} if auth else {}
        controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="relay.test", **extra)
        controller.start()
        controllers.append(controller)
        return port, handler

    yield start
    for controller in controllers:
        controller.stop()
