"""Customer events and, on them, automations: the package above tracking (it may use core, lists, mailer and
tracking; only app.py imports it)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the events API, its schemas, events on the subscriber's timeline and the event segment rule."""
    from automations import event_api, event_rules, models  # noqa: F401  (models: its table)
    from automations.event_imports import init_event_imports
    from automations.timeline import customer_events
    from core import timeline
    from core.api import register_schema

    app.register_blueprint(event_api.bp)
    register_schema(app, "EventInput", event_api.EVENT_INPUT)
    register_schema(app, "EventBatch", event_api.EVENT_BATCH)
    register_schema(app, "EventOutcome", event_api.EVENT_OUTCOME)
    register_schema(app, "Event", event_api.EVENT)
    timeline.register(app, customer_events)
    event_rules.register()
    init_event_imports(app)
