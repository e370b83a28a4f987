"""Outgoing webhooks: endpoints, the outbox written with each change, signed delivery from RQ workers. The top
package: it may use every other one, and only app.py imports it."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from webhooks import queues  # noqa: F401  (declares the webhooks queue on import, before the app is built)
from webhooks.settings import OUTGOING  # declared before the settings are read


def init_app(app: Flask) -> None:
    """Register the pages and /api/webhooks with its schemas, the receivers of every package's signals, the
    dashboard notice, the periodic dispatch and clean-up, and the endpoints' audit."""
    from core import audit
    from core.api import register_schema
    from core.health import register_notices
    from core.queues import register_periodic
    from webhooks import api, delivery, models, notices, receivers, views
    from webhooks.queues import WEBHOOKS_QUEUE

    # The audit log records endpoints added, changed (their secret masked) and deleted.
    audit.track(models.Endpoint, "webhook", "url", {
        "url": _l("URL"), "description": _l("Description"), "event_types": _l("Event types"),
        "secret": _l("Signing secret"), "enabled": _l("Enabled"), "batch_high_volume": _l("Batch opens and clicks")},
        title=_l("Webhook endpoint"))
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    register_schema(app, "WebhookEndpointInput", api.ENDPOINT_INPUT)
    register_schema(app, "WebhookEndpoint", api.ENDPOINT)
    receivers.connect()
    register_notices(app, notices.switched_off)
    settings = OUTGOING.of(app.config["KAIRAN"])
    register_periodic(app, WEBHOOKS_QUEUE, delivery.dispatch, settings.dispatch_seconds)
    register_periodic(app, WEBHOOKS_QUEUE, delivery.forget, 3600)
