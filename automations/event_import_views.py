"""UI pages for importing customer events from a CSV: the import pages of lists/import_views.py on imports of kind
``events``, with the mapping of automations/event_import.py."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l

from automations.event_import import MAX_COLUMNS, PROPERTY_TYPES, TARGETS, configure, guess_mapping
from core.auth import Permission
from lists.import_views import ImportPages, import_blueprint
from lists.imports import progress
from lists.models import Import, ImportKind

TARGET_LABELS = {"email": _l("Subscriber's email address"), "name": _l("Event name"),
                 "occurred_at": _l("When it happened"), "key": _l("Order number (imported once)"),
                 "property": _l("Property"), "ignore": _l("Do not import")}
TYPE_LABELS = {"text": _l("Text"), "number": _l("Number")}


def event_progress(imp: Import) -> dict[str, Any]:
    """Return an event import's progress: the subscribers' one, and the rows stored before (duplicates)."""
    # The job saves its counts after each batch it has stored whole: the rows neither stored nor bad were there.
    return {**progress(imp), "duplicates": max(imp.done - imp.imported - imp.failed, 0)}


def _options() -> dict[str, Any]:
    return {"event_name": request.form.get("event_name", ""),
            "create_subscriber": request.form.get("create_subscriber") == "y"}


EVENT_PAGES = ImportPages(
    kind=ImportKind.EVENTS, name="event_imports", url_prefix="/events/import", permission=Permission.EVENTS_WRITE,
    templates="automations/event_import", title=_l("Import customer events"),
    deleted=_l("Import deleted. The events it stored stay."), errors_file="event-import",
    guess_mapping=guess_mapping, options_from_form=_options, configure=configure, targets=TARGETS,
    types=PROPERTY_TYPES, max_columns=MAX_COLUMNS, progress=event_progress,
    labels={"target_labels": TARGET_LABELS, "type_labels": TYPE_LABELS})
bp = import_blueprint(EVENT_PAGES)
