"""Open pixel, click redirect, bot classification, bounces and complaints, campaign metrics."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the open pixel and the click redirect, the event flusher, bounce intake (inbound SMTP server,
    mailbox polling, provider webhooks), the bounces API and page, and the ``tracking`` and ``bounces`` commands."""
    from core.api import register_schema
    from core.embedded import ServiceSpec, flask_command, port_answers, register_service
    from core.signals import reconciling, subscribers_deleting
    from core.web import limiter
    from tracking import (  # noqa: F401  (models: their tables)
        bounce_api,
        bounce_views,
        bounces,
        cli,
        flush,
        mailbox,
        models,
        views,
        webhooks,
    )

    app.register_blueprint(views.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(bounce_views.bp)
    app.register_blueprint(bounce_api.bp)
    register_schema(app, "Bounce", bounce_api.BOUNCE)
    # /o/<token>.gif and known /c/<token> are answered here, in front of Flask (see tracking/views.py).
    app.wsgi_app = views.TrackingFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    limiter.exempt(views.bp)  # nothing to protect, and every request counts: no rate-limit lookups
    app.cli.add_command(cli.tracking_cli)
    app.cli.add_command(cli.bounces_cli)
    reconciling.connect(flush.flush_on_reconcile)  # blinker keeps one connection per receiver
    subscribers_deleting.connect(bounces.forget_subscribers)
    reconciling.connect(mailbox.queue_poll_on_reconcile)
    # `flask up` receives bounces on loopback; at scale `flask bounces serve` runs where the MX points.
    port = app.config["KAIRAN"].bounces.port
    register_service(app, ServiceSpec("bounce-smtp", flask_command("bounces", "serve", "--port", str(port)),
                                      ready=lambda: port_answers(port)))
