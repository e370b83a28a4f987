"""Customer events and, on them, automations: the package above tracking (it may use core, lists, mailer and
tracking; only app.py imports it)."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from automations.settings import AUTOMATIONS  # declared before the settings are read


def init_app(app: Flask) -> None:
    """Register the events and automations APIs and the events import, their schemas, events on the subscriber's
    timeline and the event segment rule; the engine's periodic jobs (wake due runs, look up scheduled triggers,
    forget old history)."""
    from automations import (  # noqa: F401  (models)
        automation_api,
        conversions,
        engine,
        event_api,
        event_rules,
        guards,
        models,
        retention,
        summary,
        triggers,
    )
    from automations.event_imports import init_event_imports
    from automations.events import grouped_api_store
    from automations.models import Automation
    from automations.timeline import customer_events
    from core import audit, dashboard, timeline
    from core.api import register_schema
    from core.auth import Permission
    from core.queues import DEFAULT_QUEUE, register_periodic
    from core.signals import lists_deleting, run_message_failed, segment_deleting
    from core.web import limiter

    app.register_blueprint(event_api.bp)
    limiter.exempt(event_api.bp)  # no limit applies to it, and a shop posts every event: no rate-limit lookups
    app.extensions[event_api.EVENTS_GROUP] = grouped_api_store()
    app.wsgi_app = event_api.EventsFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    from automations.views import STATUS_LABELS, init_views

    init_views(app)  # the pages, and the runs on a subscriber's page
    register_schema(app, "EventInput", event_api.EVENT_INPUT)
    register_schema(app, "EventBatch", event_api.EVENT_BATCH)
    register_schema(app, "EventOutcome", event_api.EVENT_OUTCOME)
    register_schema(app, "Event", event_api.EVENT)
    app.register_blueprint(automation_api.bp)
    register_schema(app, "AutomationInput", automation_api.AUTOMATION_INPUT)
    register_schema(app, "Automation", automation_api.AUTOMATION)
    register_schema(app, "AutomationOne", automation_api.AUTOMATION_ONE)
    register_schema(app, "AutomationRun", automation_api.AUTOMATION_RUN)
    register_schema(app, "AutomationStats", automation_api.AUTOMATION_STATS)
    dashboard.register(app, Permission.AUTOMATIONS_READ, summary.panel)
    timeline.register(app, customer_events)
    event_rules.register()
    init_event_imports(app)
    audit.track(Automation, "automation", "name", {"name": _l("Name"), "status": _l("Status"), "draft": _l("Draft"),
                                                   "version_id": _l("Version")}, opaque=("draft",),
                title=_l("Automation"), values={"status": STATUS_LABELS, "version_id": "#{}".format},
                actions={"active": _l("Automation turned on"), "paused": _l("Automation paused"),
                         "archived": _l("Automation archived")})
    lists_deleting.connect(guards.refuse_used_lists)
    segment_deleting.connect(guards.refuse_used_segment)
    run_message_failed.connect(guards.fail_run)
    settings = AUTOMATIONS.of(app.config["KAIRAN"])
    register_periodic(app, DEFAULT_QUEUE, triggers.react, settings.wake_seconds)  # new events, then due runs
    register_periodic(app, DEFAULT_QUEUE, triggers.scan, triggers.SCAN_SECONDS)
    register_periodic(app, DEFAULT_QUEUE, conversions.attribute, settings.wake_seconds)  # purchases after clicks
    register_periodic(app, DEFAULT_QUEUE, retention.sweep, retention.SWEEP_SECONDS)
