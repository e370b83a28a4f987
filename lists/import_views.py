"""UI pages for CSV imports: upload, preview and mapping, live progress, bad rows.

One set of pages for every kind of import: what differs between subscribers (here) and customer events
(automations/event_import_views.py) is an ``ImportPages``, and ``import_blueprint`` makes a kind's pages of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
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

from core import audit
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

ERRORS_SHOWN = 100  # bad rows listed on the page; all of them are in the downloadable file

Context = Callable[[Import], dict[str, Any]]


def _nothing(_imp: Import) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ImportPages:
    """What one kind of import's pages have of their own; the templates are ``{templates}_upload.html``,
    ``_preview.html`` and ``_progress.html``, each extending the one in templates/imports/."""

    kind: ImportKind
    name: str  # the blueprint's
    url_prefix: str
    permission: Permission
    templates: str
    title: Any  # the upload page's heading (a lazy string)
    deleted: Any  # flashed when an import is deleted: what stays
    errors_file: str  # the bad rows' download: {errors_file}-{id}-errors.csv
    guess_mapping: Callable[[list[str]], list[dict[str, Any]]]
    options_from_form: Callable[[], dict[str, Any]]  # the preview form's options besides the mapping
    configure: Callable[[Import, dict[str, Any]], None]
    targets: tuple[str, ...]
    types: tuple[str, ...]
    max_columns: int = MAX_COLUMNS
    progress: Callable[[Import], dict[str, Any]] = progress
    preview_context: Context = _nothing
    progress_context: Context = _nothing
    labels: dict[str, Any] = field(default_factory=dict)  # target_labels and type_labels, when not the globals'


def _render(pages: ImportPages, page: str, **context: Any) -> str:
    return render_template(f"{pages.templates}_{page}.html", pages=pages, form=ConfirmForm(), **pages.labels,
                           **context)


def _mapping_and_options(pages: ImportPages) -> dict[str, Any]:
    # How many columns the preview showed: the mapping has one entry each (configure checks it against the file).
    columns = typed_whole_number(request.form.get("columns"), "columns", default=0, minimum=0,
                                 maximum=pages.max_columns) or 0
    return {
        "encoding": request.form.get("encoding"), "delimiter": request.form.get("delimiter", "").replace("\\t", "\t"),
        "mapping": [{"target": request.form.get(f"col-{i}-target"), "key": request.form.get(f"col-{i}-key"),
                     "type": request.form.get(f"col-{i}-type")} for i in range(columns)],
        **pages.options_from_form(),
    }


def index(pages: ImportPages) -> Any:
    """Show the upload form and recent imports."""
    recent = db.session.scalars(select(Import).where(Import.kind == pages.kind).order_by(Import.id.desc()).limit(20))
    return _render(pages, "upload", imports=recent.all())


def create(pages: ImportPages) -> Any:
    """Store an uploaded file and go to its preview."""
    file = request.files.get("file")
    if not ConfirmForm().validate_on_submit() or file is None or not file.filename:
        flash(_("Choose a CSV file to import."), "error")
        return redirect(url_for(f"{pages.name}.index"))
    with showing_refusal():
        imp = upload(file.stream, file.filename, current_user.username, pages.kind, pages.guess_mapping)
        return redirect(url_for(f"{pages.name}.detail", import_id=imp.id))
    return redirect(url_for(f"{pages.name}.index"))


def detail(pages: ImportPages, import_id: int) -> Any:
    """Show a pending import's preview and mapping, or a started one's progress and bad rows."""
    imp = get_import(import_id, pages.kind)
    if imp.status != ImportStatus.PENDING:
        return _render(pages, "progress", imp=imp, progress=pages.progress(imp),
                       errors=first_errors(imp, ERRORS_SHOWN), kept_days=BAD_ROWS_KEPT.days,
                       **pages.progress_context(imp))
    encoding = request.args.get("encoding") or imp.encoding
    delimiter = (request.args.get("delimiter") or imp.delimiter).replace("\\t", "\t")
    if encoding not in ENCODINGS and encoding != imp.encoding:
        encoding = imp.encoding
    rows = preview(upload_sample(imp), encoding, delimiter[:1] or ",")
    header = rows[0] if rows else []
    mapping = imp.mapping if len(imp.mapping) == len(header) else pages.guess_mapping(header)
    return _render(pages, "preview", imp=imp, rows=rows, header=header, mapping=mapping, encoding=encoding,
                   delimiter=delimiter, encodings=sorted({*ENCODINGS, imp.encoding}), delimiters=DELIMITERS,
                   targets=pages.targets, types=pages.types, **pages.preview_context(imp))


def begin(pages: ImportPages, import_id: int) -> Any:
    """Save the mapping and options, and queue the import."""
    imp = get_import(import_id, pages.kind)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with showing_refusal():
        pages.configure(imp, _mapping_and_options(pages))
        start(imp, str(get_locale() or "en"))
    return redirect(url_for(f"{pages.name}.detail", import_id=import_id))


def progress_json(pages: ImportPages, import_id: int) -> Any:
    """Return the import's progress for the live progress bar."""
    return jsonify(data=pages.progress(get_import(import_id, pages.kind)))


def stop(pages: ImportPages, import_id: int) -> Any:
    """Stop an import after its current batch; rows written so far stay."""
    if ConfirmForm().validate_on_submit():
        cancel(get_import(import_id, pages.kind))
        flash(_("The import stops after the rows it is writing now."), "info")
    return redirect(url_for(f"{pages.name}.detail", import_id=import_id))


def remove(pages: ImportPages, import_id: int) -> Any:
    """Delete an import that is not running, with its files (what it imported stays)."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            delete_import(get_import(import_id, pages.kind))
            flash(str(pages.deleted), "success")
    return redirect(url_for(f"{pages.name}.index"))


def errors_csv(pages: ImportPages, import_id: int) -> Any:
    """Download every bad row with its line number and reason (UTF-8 with BOM, for Excel), streamed from the
    database, whichever worker wrote them."""
    imp = get_import(import_id, pages.kind)
    if not import_files.exists(imp.id, ImportFile.BAD_ROWS):
        abort(404)
    audit.record("import.errors_downloaded", audit.Target("import", imp.id, imp.file_name))
    db.session.commit()
    response = Response(stream_with_context(import_files.read(imp.id, ImportFile.BAD_ROWS)),
                        content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename={pages.errors_file}-{import_id}-errors.csv"
    return response


ROUTES: tuple[tuple[str, Callable[..., Any], str], ...] = (
    ("/", index, "GET"), ("/", create, "POST"), ("/<int:import_id>", detail, "GET"),
    ("/<int:import_id>/start", begin, "POST"), ("/<int:import_id>/progress", progress_json, "GET"),
    ("/<int:import_id>/cancel", stop, "POST"), ("/<int:import_id>/delete", remove, "POST"),
    ("/<int:import_id>/errors.csv", errors_csv, "GET"),
)


def import_blueprint(pages: ImportPages) -> Blueprint:
    """Return the pages of one kind of import (their endpoints are named after the functions above)."""
    bp = Blueprint(pages.name, __name__, url_prefix=pages.url_prefix)
    for rule, view, method in ROUTES:
        bp.add_url_rule(rule, view.__name__, require(pages.permission)(partial(view, pages)), methods=[method])
    return bp


def _subscriber_options() -> dict[str, Any]:
    return {"mode": request.form.get("mode"), "subscription_status": request.form.get("subscription_status"),
            "lists": request.form.getlist("lists"), "overwrite": request.form.get("overwrite") == "y"}


def _lists_to_fill() -> dict[str, Any]:
    return {"lists": db.session.scalars(lists_query(order_by="name")).all()}


def _lists_filled(imp: Import) -> dict[str, Any]:
    # The lists it fills, to go and see them once it has finished.
    return {"lists": db.session.scalars(select(MailingList).where(MailingList.id.in_(imp.list_ids or []))
                                        .order_by(MailingList.name)).all()}


SUBSCRIBER_PAGES = ImportPages(
    kind=ImportKind.SUBSCRIBERS, name="imports", url_prefix="/subscribers/import",
    permission=Permission.SUBSCRIBERS_WRITE, templates="lists/import", title=_l("Import subscribers"),
    deleted=_l("Import deleted. The subscribers it imported stay."), errors_file="import",
    guess_mapping=auto_mapping, options_from_form=_subscriber_options, configure=configure, targets=TARGETS,
    types=ATTRIBUTE_TYPES, preview_context=lambda _imp: _lists_to_fill(), progress_context=_lists_filled)
bp = import_blueprint(SUBSCRIBER_PAGES)
