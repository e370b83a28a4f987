"""Kairan's application factory: configuration, extensions, blueprints, CLI. Wiring only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import automations
import core
import lists
import mailer
import surveys
import tracking
import webhooks
from core.db import json_text
from core.embedded import WEB_THREADS
from core.settings import load_settings


def engine_options(database_url: str) -> dict[str, Any]:
    """SQLAlchemy's pool for the database: PostgreSQL's connections are checked before use (a server restarted or
    failed over drops them); a SQLite file's cannot drop, and a ping per checkout cost each API request a query.
    SQLite keeps as many connections as a web process has threads: past the pool's default five, each request's
    connection was opened (and tuned) anew."""
    if database_url.startswith("sqlite"):
        return {"json_serializer": json_text, "pool_size": WEB_THREADS}
    return {"json_serializer": json_text, "pool_pre_ping": True}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``KAIRAN_*`` keys of test_config override the environment, others go to app.config."""
    overrides = dict(test_config or {})
    settings = load_settings({**os.environ, **{k: v for k, v in overrides.items() if k.startswith("KAIRAN_")}})
    app = Flask(__name__, instance_path=str(settings.data_dir))
    app.config.from_mapping(
        KAIRAN=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database_url),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,  # CSV imports arrive through the API too
    )
    app.config.update({k: v for k, v in overrides.items() if not k.startswith("KAIRAN_")})
    core.init_app(app)
    lists.init_app(app)
    mailer.init_app(app)
    tracking.init_app(app)
    automations.init_app(app)
    surveys.init_app(app)
    webhooks.init_app(app)
    if settings.trusted_proxies:
        # Outermost, so every layer (the tracking fast path included) sees the reader's address: consent
        # records, rate limits and events would otherwise all carry the proxy's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies, x_host=settings.trusted_proxies)
    return app
