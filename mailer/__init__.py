"""Email layouts, campaigns, rendering, MIME, DKIM, the transport and its SMTP relays, the send jobs and the Outbox."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core import audit, health
from core import checklist as checklist_steps
from core.api import register_schema
from core.embedded import ServiceSpec, flask_command, port_answers, register_service
from core.queues import DEFAULT_QUEUE, register_periodic
from core.signals import optin_requested, subscribers_deleting
from mailer import (  # noqa: F401  (models: their tables)
    ab_views,
    batch_job,
    campaign_api,
    capture,
    checklist,
    compose_views,
    domain_views,
    gallery_views,
    jobs,
    media_api,
    media_views,
    models,
    notices,
    queries,
    relay_views,
    resend_views,
    scheduling,
    sending,
    smtp_transport,
    template_api,
    template_views,
    transport,
    tx_api,
    views,
)
from mailer.models import Campaign, DKIMKey, SendingDomain, SMTPRelayConfig, Template
from mailer.queues import SEND_QUEUE
from mailer.settings import SENDING


def init_app(app: Flask) -> None:
    """Register the Outbox, the transport, the SMTP health check and, when embedded, the capture server."""
    settings = app.config["KAIRAN"]
    app.register_blueprint(views.bp)
    app.register_blueprint(compose_views.bp)
    app.register_blueprint(ab_views.bp)
    app.register_blueprint(template_views.bp)
    app.register_blueprint(gallery_views.bp)
    app.register_blueprint(media_views.bp)
    app.register_blueprint(campaign_api.bp)
    app.register_blueprint(template_api.bp)
    app.register_blueprint(media_api.bp)
    app.register_blueprint(domain_views.bp)
    app.register_blueprint(domain_views.api_bp)
    app.register_blueprint(relay_views.bp)
    app.register_blueprint(relay_views.api_bp)
    register_schema(app, "TemplateInput", template_api.TEMPLATE_INPUT)
    register_schema(app, "CampaignInput", campaign_api.CAMPAIGN_INPUT)
    register_schema(app, "RelayInput", relay_views.RELAY_INPUT)
    register_schema(app, "Campaign", campaign_api.CAMPAIGN)
    register_schema(app, "CampaignStats", campaign_api.CAMPAIGN_STATS)
    app.register_blueprint(resend_views.bp)
    app.register_blueprint(resend_views.api_bp)
    register_schema(app, "ResendInput", resend_views.RESEND_INPUT)
    register_schema(app, "ResendAudience", resend_views.RESEND_AUDIENCE)
    app.register_blueprint(tx_api.bp)
    register_schema(app, "TxMessage", tx_api.TX_MESSAGE)
    app.cli.add_command(capture.capture_command)
    transport.use(app, smtp_transport.RELAYS)  # an HTTP API provider would be chosen here (docs/howto.md)
    health.register(app, "smtp", smtp_transport.check_smtp)
    health.register_notices(app, notices.campaign_notices)
    checklist_steps.register(app, checklist.steps)
    register_periodic(app, SEND_QUEUE, sending.reconcile, SENDING.of(settings).reconcile_seconds)
    register_periodic(app, DEFAULT_QUEUE, batch_job.take_back_lapsed_leases,
                      batch_job.lease_check_seconds(SENDING.of(settings).lease_seconds))
    # The audit log records these rows created, changed (in these fields; bodies only as changed) and deleted.
    audit.track(Template, "layout", "name", {
        "name": _l("Name"), "type": _l("Type"), "subject": _l("Subject"), "body": _l("Body"),
        "is_default": _l("Default")}, opaque=("body",), title=_l("Layout"))
    from lists.models import MailingList, Segment

    # The form's sending window runs from quiet_end (when quiet hours end) to quiet_start (when they begin).
    audit.track(Campaign, "campaign", "name", {
        "name": _l("Name"), "subject": _l("Subject"), "from_email": _l("From"), "status": _l("Status"),
        "body": _l("Body"), "altbody": _l("Plain-text body"), "template_id": _l("Layout"), "lists": _l("Lists"),
        "segment_id": _l("Segment"), "send_at": _l("Send at"), "rate_per_minute": _l("Messages per minute"),
        "quiet_end": _l("Sending window start"), "quiet_start": _l("Sending window end"), "archive": _l("Archive")},
        opaque=("body", "altbody"), title=_l("Campaign"), values={"status": compose_views.CAMPAIGN_STATUS_LABELS},
        refs={"template_id": audit.Reference(Template, "name"), "lists": audit.Reference(MailingList, "name"),
              "segment_id": audit.Reference(Segment, "name")},
        actions={"draft": _l("Campaign back to draft"), "scheduled": _l("Campaign scheduled"),
                 "running": _l("Campaign started sending"), "paused": _l("Campaign paused"),
                 "cancelled": _l("Campaign cancelled"), "finished": _l("Campaign finished sending")})
    audit.track(SMTPRelayConfig, "relay", "name", {
        "name": _l("Name"), "host": _l("Host"), "port": _l("Port"), "security": _l("Security"),
        "username": _l("Username"), "password": _l("Password"), "max_connections": _l("Connections"),
        "weight": _l("Weight"), "rate_per_second": _l("Messages per second"), "enabled": _l("Enabled")},
        title=_l("SMTP relay"))
    audit.track(SendingDomain, "sending_domain", "domain", {"domain": _l("Domain")}, title=_l("Sending domain"))
    audit.track(DKIMKey, "dkim_key", "selector", {
        "domain_id": _l("Domain"), "selector": _l("Selector"), "algorithm": _l("Algorithm"), "state": _l("Status")},
        title=_l("DKIM key"), refs={"domain_id": audit.Reference(SendingDomain, "domain")})
    for job in (batch_job.send_batch, scheduling.start_if_due, sending.reconcile, batch_job.take_back_lapsed_leases):
        audit.name_job(job, _l("sending job"))
    optin_requested.connect(jobs.queue_optin_mail)  # blinker keeps one connection per receiver
    subscribers_deleting.connect(queries.forget_subscribers)
    if settings.embedded_smtp:
        port = settings.capture_port
        register_service(app, ServiceSpec("capture-smtp", flask_command("capture-smtp"),
                                          ready=lambda: port_answers(port), port=("KAIRAN_CAPTURE_PORT", port)))
