"""Email layouts, campaigns, rendering, MIME, DKIM, SMTP transport, the send jobs and the Outbox."""

from __future__ import annotations

from flask import Flask

from core import health
from core.api import register_schema
from core.embedded import ServiceSpec, flask_command, port_answers, register_service
from core.queues import QueueName, register_periodic
from core.signals import optin_requested, subscribers_deleting
from mailer import (  # noqa: F401  (models: their tables)
    api,
    capture,
    compose_views,
    domain_views,
    jobs,
    models,
    notices,
    queries,
    relay_views,
    sending,
    transport,
    tx_api,
    views,
)


def init_app(app: Flask) -> None:
    """Register the Outbox, the SMTP health check and, when embedded, the capture server."""
    settings = app.config["KAIRAN"]
    app.register_blueprint(views.bp)
    app.register_blueprint(compose_views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(domain_views.bp)
    app.register_blueprint(domain_views.api_bp)
    app.register_blueprint(relay_views.bp)
    app.register_blueprint(relay_views.api_bp)
    register_schema(app, "TemplateInput", api.TEMPLATE_INPUT)
    register_schema(app, "CampaignInput", api.CAMPAIGN_INPUT)
    register_schema(app, "RelayInput", relay_views.RELAY_INPUT)
    register_schema(app, "Campaign", api.CAMPAIGN)
    register_schema(app, "CampaignStats", api.CAMPAIGN_STATS)
    app.register_blueprint(tx_api.bp)
    register_schema(app, "TxMessage", tx_api.TX_MESSAGE)
    app.cli.add_command(capture.capture_command)
    health.register(app, "smtp", transport.check_smtp)
    health.register_notices(app, notices.campaign_notices)
    register_periodic(app, QueueName.SEND, sending.reconcile)
    optin_requested.connect(jobs.queue_optin_mail)  # blinker keeps one connection per receiver
    subscribers_deleting.connect(queries.forget_subscribers)
    if settings.embedded_smtp:
        register_service(
            app,
            ServiceSpec("capture-smtp", flask_command("capture-smtp"),
                        ready=lambda: port_answers(settings.capture_port)),
        )
