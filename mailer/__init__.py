"""Email layouts, campaigns, rendering, MIME, DKIM, SMTP transport, the send jobs and the Outbox."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the Outbox, the SMTP health check and, when embedded, the capture server."""
    from core import health
    from core.api import register_schema
    from core.embedded import ServiceSpec, flask_command, port_answers, register_service
    from core.signals import optin_requested
    from mailer import api, capture, compose_views, domain_views, jobs, models, transport, views  # noqa: F401

    settings = app.config["KAIRAN"]
    app.register_blueprint(views.bp)
    app.register_blueprint(compose_views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(domain_views.bp)
    app.register_blueprint(domain_views.api_bp)
    register_schema(app, "TemplateInput", api.TEMPLATE_INPUT)
    register_schema(app, "CampaignInput", api.CAMPAIGN_INPUT)
    app.cli.add_command(capture.capture_command)
    health.register(app, "smtp", transport.check_smtp)
    optin_requested.connect(jobs.queue_optin_mail)  # blinker keeps one connection per receiver
    if settings.embedded_smtp:
        register_service(
            app,
            ServiceSpec("capture-smtp", flask_command("capture-smtp"),
                        ready=lambda: port_answers(settings.capture_port)),
        )
