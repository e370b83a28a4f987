"""Kairan's small cross-cutting package: database, settings, users and roles, i18n, embedded services."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the core: database, Redis, i18n, login/CSRF/limits, API base, health, pages, CLI."""
    from core import (
        account_views,
        api,
        audit,
        audit_views,
        browser_policy,
        checklist,
        cli,
        clock,
        db,
        health,
        i18n,
        inputs,
        queues,
        shared_config,
        stored_settings,
        user_views,
        views,
        web,
    )

    settings = app.config["KAIRAN"]
    # Per app, not per process: a test process builds many apps, and only some move time.
    clock.use_movable(settings.redis_url) if settings.movable_clock else clock.use_system()
    inputs.init_app(app)  # first: routes bind its id converter when they are added
    db.init_app(app)
    shared_config.init_app(app)  # first of the requests' checks: settings and API users as now
    queues.init_app(app)
    i18n.init_app(app)
    web.init_app(app)
    api.init_app(app)
    audit.init_app(app)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(audit_views.api_bp)
    health.init_app(app)
    stored_settings.init_app(app)
    checklist.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(user_views.bp)
    app.register_blueprint(account_views.bp)
    app.before_request(account_views.require_enrolment)
    browser_policy.init_app(app)
    cli.init_app(app)
