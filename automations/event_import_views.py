"""UI pages for importing customer events from a CSV: upload, preview and mapping, live progress, bad rows.

The pages of an event import; what they call is the subscribers' import machinery (lists/imports.py) on imports
of kind ``events``, with the mapping of automations/event_import.py.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from automations.event_import import MAX_COLUMNS, PROPERTY_TYPES, TARGETS, configure, guess_mapping
from core.auth import Permission, require
from core.db import db
from core.forms import ConfirmForm
from core.inputs import typed_whole_number
from core.refusals import showing_refusal
from lists import import_files
from lists.csvfiles import DELIMITERS, ENCODINGS, preview
from lists.import_job import start
from lists.imports import (
    BAD_ROWS_KEPT,
    cancel,
    delete_import,
    first_errors,
    get_import,
    progress,
    upload,
    upload_sample,
)
from lists.models import Import, ImportFile, ImportKind, ImportStatus

bp = Blueprint("event_imports", __name__, url_prefix="/events/import")
ERRORS_SHOWN = 100  # bad rows listed on the page; all of them are in the downloadable file
EVENTS = ImportKind.EVENTS
TARGET_LABELS = {"email": _l("Subscriber's email address"), "name": _l("Event name"),
                 "occurred_at": _l("When it happened"), "key": _l("Order number (imported once)"),
                 "property": _l("Property"), "ignore": _l("Do not import")}
TYPE_LABELS = {"text": _l("Text"), "number": _l("Number")}


def event_progress(imp: Import) -> dict[str, Any]:
    """Return an event import's progress: the subscribers' one, and the rows stored before (duplicates)."""
    # The job saves its counts after each batch it has stored whole: the rows neither stored nor bad were there.
    return {**progress(imp), "duplicates": max(imp.done - imp.imported - imp.failed, 0)}


@bp.get("/")
@require(Permission.EVENTS_WRITE)
def index() -> Any:
    """Show the upload form and recent event imports."""
    recent = db.session.scalars(select(Import).where(Import.kind == EVENTS).order_by(Import.id.desc()).limit(20))
    return render_template("automations/event_import_upload.html", imports=recent.all(), form=ConfirmForm())


@bp.post("/")
@require(Permission.EVENTS_WRITE)
def create() -> Any:
    """Store an uploaded file and go to its preview."""
    file = request.files.get("file")
    if not ConfirmForm().validate_on_submit() or file is None or not file.filename:
        flash(_("Choose a CSV file to import."), "error")
        return redirect(url_for("event_imports.index"))
    with showing_refusal():
        imp = upload(file.stream, file.filename, current_user.username, EVENTS, guess_mapping)
        return redirect(url_for("event_imports.detail", import_id=imp.id))
    return redirect(url_for("event_imports.index"))


def _options_from_form() -> dict[str, Any]:
    # How many columns the preview showed: the mapping has one entry each (configure checks it against the file).
    columns = typed_whole_number(request.form.get("columns"), "columns", default=0, minimum=0,
                                 maximum=MAX_COLUMNS) or 0
    return {
        "encoding": request.form.get("encoding"), "delimiter": request.form.get("delimiter", "").replace("\\t", "\t"),
        "mapping": [{"target": request.form.get(f"col-{i}-target"), "key": request.form.get(f"col-{i}-key"),
                     "type": request.form.get(f"col-{i}-type")} for i in range(columns)],
        "event_name": request.form.get("event_name", ""),
        "create_subscriber": request.form.get("create_subscriber") == "y",
    }


@bp.get("/<int:import_id>")
@require(Permission.EVENTS_WRITE)
def detail(import_id: int) -> Any:
    """Show a pending import's preview and mapping, or a started one's progress and bad rows."""
    imp = get_import(import_id, EVENTS)
    if imp.status != ImportStatus.PENDING:
        return render_template("automations/event_import_progress.html", imp=imp, progress=event_progress(imp),
                               errors=first_errors(imp, ERRORS_SHOWN), kept_days=BAD_ROWS_KEPT.days,
                               form=ConfirmForm())
    encoding = request.args.get("encoding") or imp.encoding
    delimiter = (request.args.get("delimiter") or imp.delimiter).replace("\\t", "\t")
    if encoding not in ENCODINGS and encoding != imp.encoding:
        encoding = imp.encoding
    rows = preview(upload_sample(imp), encoding, delimiter[:1] or ",")
    header = rows[0] if rows else []
    mapping = imp.mapping if len(imp.mapping) == len(header) else guess_mapping(header)
    return render_template(
        "automations/event_import_preview.html", imp=imp, rows=rows, header=header, mapping=mapping,
        encoding=encoding, delimiter=delimiter, encodings=sorted({*ENCODINGS, imp.encoding}), delimiters=DELIMITERS,
        targets=TARGETS, types=PROPERTY_TYPES, event_target_labels=TARGET_LABELS, property_type_labels=TYPE_LABELS,
        named_by_column=any(m["target"] == "name" for m in mapping), form=ConfirmForm(),
    )


@bp.post("/<int:import_id>/start")
@require(Permission.EVENTS_WRITE)
def begin(import_id: int) -> Any:
    """Save the mapping and options, and queue the import."""
    imp = get_import(import_id, EVENTS)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with showing_refusal():
        configure(imp, _options_from_form())
        start(imp, str(get_locale() or "en"))
    return redirect(url_for("event_imports.detail", import_id=import_id))


@bp.get("/<int:import_id>/progress")
@require(Permission.EVENTS_WRITE)
def progress_json(import_id: int) -> Any:
    """Return the import's progress for the live progress bar."""
    return jsonify(data=event_progress(get_import(import_id, EVENTS)))


@bp.post("/<int:import_id>/cancel")
@require(Permission.EVENTS_WRITE)
def stop(import_id: int) -> Any:
    """Stop an import after its current batch; events stored so far stay."""
    if ConfirmForm().validate_on_submit():
        cancel(get_import(import_id, EVENTS))
        flash(_("The import stops after the rows it is writing now."), "info")
    return redirect(url_for("event_imports.detail", import_id=import_id))


@bp.post("/<int:import_id>/delete")
@require(Permission.EVENTS_WRITE)
def remove(import_id: int) -> Any:
    """Delete an import that is not running, with its files (the events it stored stay)."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            delete_import(get_import(import_id, EVENTS))
            flash(_("Import deleted. The events it stored stay."), "success")
    return redirect(url_for("event_imports.index"))


@bp.get("/<int:import_id>/errors.csv")
@require(Permission.EVENTS_WRITE)
def errors_csv(import_id: int) -> Any:
    """Download every bad row with its line number and reason (UTF-8 with BOM, for Excel)."""
    imp = get_import(import_id, EVENTS)
    if not import_files.exists(imp.id, ImportFile.BAD_ROWS):
        abort(404)
    response = Response(stream_with_context(import_files.read(imp.id, ImportFile.BAD_ROWS)),
                        content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename=event-import-{import_id}-errors.csv"
    return response
