"""Customer events from CSV files, wired in: the pages, the API and its schema, and the job that imports them
(one entry in lists/import_job.py's RUNNERS, so the import queue's job runs event imports too)."""

from __future__ import annotations

from flask import Flask


def init_event_imports(app: Flask) -> None:
    """Register the event import's pages, API, OpenAPI schema and job."""
    from automations import event_import_api, event_import_views
    from automations.event_import_job import run_event_import
    from core.api import register_schema
    from lists.import_job import RUNNERS
    from lists.models import ImportKind

    app.register_blueprint(event_import_views.bp)
    app.register_blueprint(event_import_api.bp)
    register_schema(app, "EventImport", event_import_api.EVENT_IMPORT)
    RUNNERS[ImportKind.EVENTS] = run_event_import
