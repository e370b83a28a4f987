"""Subscribers, lists and subscriptions, imports, segments and the public subscription pages."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

# Imported for what importing does: lists' queue declared before the app is built, the session hooks that announce
# written subscribers, and the consent settings declared before the settings are read.
from lists import announce, queues  # noqa: F401
from lists.settings import CONSENT  # noqa: F401

# Request bodies of the lists API, as listmonk accepts them (shown in /api/openapi.json).
LIST_INPUT = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "type": {"type": "string", "enum": ["public", "private"], "default": "private"},
        "optin": {"type": "string", "enum": ["single", "double"], "default": "single"},
        "status": {"type": "string", "enum": ["active", "archived"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string"},
    },
}
SUBSCRIBER_INPUT = {
    "type": "object",
    "required": ["email"],
    "properties": {
        "email": {"type": "string", "description": "Full-width characters are normalised; carrier legacy forms kept."},
        "name": {"type": "string", "maxLength": 200},
        "status": {"type": "string", "enum": ["enabled", "disabled", "blocklisted"]},
        "lists": {"type": "array", "items": {"type": "integer"}},
        "attribs": {"type": "object"},
        "preconfirm_subscriptions": {"type": "boolean"},
    },
}

SUBSCRIBER_QUERY = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": 'An expression (attribs.city == "大阪" and list == 3) or '
                  "listmonk's SQL expression (subscribers.email='a@example.jp'), translated, never run as SQL."},
        "all": {"type": "boolean", "description": "With no query: every subscriber (of list_ids, when given)."},
        "list_ids": {"type": "array", "items": {"type": "integer"}, "description": "Only subscribers on these lists."},
        "action": {"type": "string", "enum": ["add", "remove", "unsubscribe"]},
        "target_list_ids": {"type": "array", "items": {"type": "integer"}},
        "status": {"type": "string", "enum": ["confirmed", "unconfirmed", "unsubscribed"]},
    },
}
SEGMENT_INPUT = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "description": {"type": "string"},
        "rules": {"type": "object", "description": 'A group: {"match": "all"|"any", "rules": [rule or group]}; '
                  'a rule: {"field": "email"|"name"|"status"|"created_at"|"list"|"attribs.<key>", "op", "value"}; '
                  'behaviour rules: {"field": "event", "op": "did"|"did_not", "value": {"name", "min_count", '
                  '"within_days" or "from"/"to", "property": {"key", "op", "value"}}}, {"field": "opened"|"clicked"|'
                  '"engaged", "op": "did"|"did_not", "value": {"campaign_id", "within_days"}}.'},
        "expression": {"type": "string", "description": 'Instead of rules: attribs.city == "大阪" and list == 3 and '
                       'not did("purchase", within_days=30, at_least=2)'},
    },
}


def init_app(app: Flask) -> None:
    """Register the lists pages and API routes, the sweeps of old import files and of old consent records, and the
    home's audience figures."""
    from core import audit, dashboard, timeline
    from core.api import register_schema
    from core.auth import Permission
    from core.queues import DEFAULT_QUEUE, register_periodic
    from lists import (
        api,
        consent_retention,
        consent_views,
        growth,
        import_api,
        import_job,
        import_views,
        imports,
        labels,
        public_views,
        segment_api,
        segment_views,
        subscriber_api,
        subscriber_views,
        suppression_api,
        suppression_views,
        views,
    )
    from lists.models import Import, MailingList, Segment
    from lists.timeline import subscription_events

    app.register_blueprint(views.bp)
    app.register_blueprint(subscriber_views.bp)
    app.register_blueprint(import_views.bp)
    app.register_blueprint(import_api.bp)
    app.register_blueprint(public_views.bp)
    app.register_blueprint(public_views.api_bp)
    app.register_blueprint(suppression_views.bp)
    app.register_blueprint(suppression_api.bp)
    app.register_blueprint(segment_api.bp)
    app.register_blueprint(segment_views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(subscriber_api.bp)
    app.register_blueprint(consent_views.bp)
    app.register_blueprint(consent_views.api_bp)
    register_schema(app, "ListInput", LIST_INPUT)
    register_schema(app, "SubscriberInput", SUBSCRIBER_INPUT)
    register_schema(app, "SegmentInput", SEGMENT_INPUT)
    register_schema(app, "SubscriberQuery", SUBSCRIBER_QUERY)
    timeline.register(app, subscription_events)
    register_periodic(app, DEFAULT_QUEUE, imports.sweep, imports.SWEEP_SECONDS)
    register_periodic(app, DEFAULT_QUEUE, consent_retention.sweep, consent_retention.SWEEP_SECONDS)
    register_periodic(app, DEFAULT_QUEUE, growth.refresh, growth.REFRESH_SECONDS)  # the home's audience figures
    labels.init_app(app)
    dashboard.register(app, Permission.SUBSCRIBERS_READ, growth.panel)
    # The audit log records these rows created, changed (in these fields) and deleted.
    audit.track(MailingList, "list", "name", {
        "name": _l("Name"), "type": _l("Type"), "optin": _l("Opt-in"), "status": _l("Status"), "tags": _l("Tags"),
        "description": _l("Description")}, title=_l("List"),
        values={"type": labels.LABELS, "optin": labels.LABELS,
                "status": {"active": _l("Active"), "archived": _l("Archived")}},
        actions={"archived": _l("List archived"), "active": _l("List taken out of the archive")})
    audit.track(Segment, "segment", "name", {"name": _l("Name"), "description": _l("Description"),
                                             "rules": _l("Rules")}, title=_l("Segment"))
    audit.name_kind("subscriber", _l("Subscriber"))
    audit.name_actions("subscriber", {"exported": _l("Subscriber's data exported"),
                                      "wiped": _l("Subscribers' data wiped")})
    audit.name_fields("subscriber", {"count": _l("Count"), "ids": _l("Subscriber ids")})
    audit.name_kind("export", _l("Export"))
    audit.name_actions("export", {"downloaded": _l("Export downloaded")})
    # An export's entry holds its page and the query's arguments (lists.export_columns.csv_download).
    audit.name_fields("export", {
        "path": _l("Page"), "list_id": _l("List"), "encoding": _l("Encoding"), "headers": _l("Header language"),
        "query": _l("Query"), "status": _l("Status"), "from": _l("From day"), "to": _l("To day")},
        values={"encoding": audit.ENCODING_NAMES}, refs={"list_id": audit.Reference(MailingList, "name")})
    audit.name_job(import_job.run_import, _l("import job"))
    audit.track(Import, "import", "file_name", {
        "kind": _l("Type"), "file_name": _l("File name"), "mode": _l("Mode"), "overwrite": _l("Overwrite"),
        "list_ids": _l("Lists"), "subscription_status": _l("Subscription status"), "status": _l("Status")},
        title=_l("Import"), values={"status": labels.IMPORT_STATUS, "subscription_status": labels.LABELS},
        refs={"list_ids": audit.Reference(MailingList, "name")},
        actions={"errors_downloaded": _l("Import errors downloaded"), "finished": _l("Import finished"),
                 "failed": _l("Import failed"), "cancelled": _l("Import cancelled")})
