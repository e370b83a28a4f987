"""UI pages for CSV import: upload, preview and mapping, live progress, bad rows."""

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
from flask_login import current_user
from sqlalchemy import select

from core.auth import Permission, require
from core.db import db
from core.forms import ConfirmForm
from core.inputs import typed_whole_number
from core.refusals import showing_refusal
from lists import import_files
from lists.csvfiles import DELIMITERS, ENCODINGS, preview
from lists.import_job import start
from lists.imports import (
    ATTRIBUTE_TYPES,
    BAD_ROWS_KEPT,
    MAX_COLUMNS,
    TARGETS,
    auto_mapping,
    cancel,
    configure,
    delete_import,
    first_errors,
    get_import,
    progress,
    upload,
    upload_sample,
)
from lists.models import Import, ImportFile, ImportKind, ImportStatus, MailingList
from lists.services import lists_query

bp = Blueprint("imports", __name__, url_prefix="/subscribers/import")
ERRORS_SHOWN = 100  # bad rows listed on the page; all of them are in the downloadable file


@bp.get("/")
@require(Permission.SUBSCRIBERS_WRITE)
def index() -> Any:
    """Show the upload form and recent imports."""
    recent = db.session.scalars(select(Import).where(Import.kind == ImportKind.SUBSCRIBERS)
                                .order_by(Import.id.desc()).limit(20)).all()
    return render_template("lists/import_upload.html", imports=recent, form=ConfirmForm())


@bp.post("/")
@require(Permission.SUBSCRIBERS_WRITE)
def create() -> Any:
    """Store an uploaded file and go to its preview."""
    file = request.files.get("file")
    if not ConfirmForm().validate_on_submit() or file is None or not file.filename:
        flash(_("Choose a CSV file to import."), "error")
        return redirect(url_for("imports.index"))
    with showing_refusal():
        imp = upload(file.stream, file.filename, current_user.username)
        return redirect(url_for("imports.detail", import_id=imp.id))
    return redirect(url_for("imports.index"))


def _options_from_form() -> dict[str, Any]:
    # How many columns the preview showed: the mapping has one entry each (configure checks it against the file).
    columns = typed_whole_number(request.form.get("columns"), "columns", default=0, minimum=0, maximum=MAX_COLUMNS) or 0
    return {
        "encoding": request.form.get("encoding"), "delimiter": request.form.get("delimiter", "").replace("\\t", "\t"),
        "mapping": [{"target": request.form.get(f"col-{i}-target"), "key": request.form.get(f"col-{i}-key"),
                     "type": request.form.get(f"col-{i}-type")} for i in range(columns)],
        "mode": request.form.get("mode"), "subscription_status": request.form.get("subscription_status"),
        "lists": request.form.getlist("lists"), "overwrite": request.form.get("overwrite") == "y",
    }


@bp.get("/<int:import_id>")
@require(Permission.SUBSCRIBERS_WRITE)
def detail(import_id: int) -> Any:
    """Show a pending import's preview and mapping, or a started one's progress and bad rows."""
    imp = get_import(import_id, ImportKind.SUBSCRIBERS)
    if imp.status != ImportStatus.PENDING:
        # The lists it fills, to go and see them once it has finished.
        lists = db.session.scalars(select(MailingList).where(MailingList.id.in_(imp.list_ids or []))
                                   .order_by(MailingList.name)).all()
        return render_template("lists/import_progress.html", imp=imp, progress=progress(imp), lists=lists,
                               errors=first_errors(imp, ERRORS_SHOWN), kept_days=BAD_ROWS_KEPT.days,
                               form=ConfirmForm())
    encoding = request.args.get("encoding") or imp.encoding
    delimiter = (request.args.get("delimiter") or imp.delimiter).replace("\\t", "\t")
    if encoding not in ENCODINGS and encoding != imp.encoding:
        encoding = imp.encoding
    rows = preview(upload_sample(imp), encoding, delimiter[:1] or ",")
    header = rows[0] if rows else []
    mapping = imp.mapping if len(imp.mapping) == len(header) else auto_mapping(header)
    return render_template(
        "lists/import_preview.html", imp=imp, rows=rows, header=header, mapping=mapping, encoding=encoding,
        delimiter=delimiter, encodings=sorted({*ENCODINGS, imp.encoding}), delimiters=DELIMITERS,
        targets=TARGETS, types=ATTRIBUTE_TYPES, lists=db.session.scalars(lists_query(order_by="name")).all(),
        form=ConfirmForm(),
    )


@bp.post("/<int:import_id>/start")
@require(Permission.SUBSCRIBERS_WRITE)
def begin(import_id: int) -> Any:
    """Save the mapping and options, and queue the import."""
    imp = get_import(import_id, ImportKind.SUBSCRIBERS)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with showing_refusal():
        configure(imp, _options_from_form())
        start(imp, str(get_locale() or "en"))
    return redirect(url_for("imports.detail", import_id=import_id))


@bp.get("/<int:import_id>/progress")
@require(Permission.SUBSCRIBERS_WRITE)
def progress_json(import_id: int) -> Any:
    """Return the import's progress for the live progress bar."""
    return jsonify(data=progress(get_import(import_id, ImportKind.SUBSCRIBERS)))


@bp.post("/<int:import_id>/cancel")
@require(Permission.SUBSCRIBERS_WRITE)
def stop(import_id: int) -> Any:
    """Stop an import after its current batch; rows written so far stay."""
    if ConfirmForm().validate_on_submit():
        cancel(get_import(import_id, ImportKind.SUBSCRIBERS))
        flash(_("The import stops after the rows it is writing now."), "info")
    return redirect(url_for("imports.detail", import_id=import_id))


@bp.post("/<int:import_id>/delete")
@require(Permission.SUBSCRIBERS_WRITE)
def remove(import_id: int) -> Any:
    """Delete an import that is not running, with its files (subscribers it imported stay)."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            delete_import(get_import(import_id, ImportKind.SUBSCRIBERS))
            flash(_("Import deleted. The subscribers it imported stay."), "success")
    return redirect(url_for("imports.index"))


@bp.get("/<int:import_id>/errors.csv")
@require(Permission.SUBSCRIBERS_WRITE)
def errors_csv(import_id: int) -> Any:
    """Download every bad row with its line number and reason (UTF-8 with BOM, for Excel), streamed from the
    database, whichever worker wrote them."""
    imp = get_import(import_id, ImportKind.SUBSCRIBERS)
    if not import_files.exists(imp.id, ImportFile.BAD_ROWS):
        abort(404)
    response = Response(stream_with_context(import_files.read(imp.id, ImportFile.BAD_ROWS)),
                        content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename=import-{import_id}-errors.csv"
    return response

