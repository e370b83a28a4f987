"""The consent records' export: an admin's page and download, and ``GET /api/consent-records``
(lists/consent_export.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.auth import Permission, require
from core.db import db
from core.refusals import showing_refusal
from lists.consent_export import consent_csv, read_filters
from lists.export_columns import csv_download, header_language
from lists.models import MailingList
from lists.settings import CONSENT

bp = Blueprint("consent", __name__, url_prefix="/subscribers/consent")
# The page names a refused day by its label, as the page shows it (the API names the parameter).
PAGE_LABELS = {"from": _l("First day"), "to": _l("Last day")}
api_bp = Blueprint("consent_api", __name__, url_prefix="/api/consent-records")


def _page(status: int = 200, error: Any = None) -> Any:
    lists = db.session.execute(select(MailingList.id, MailingList.name).order_by(MailingList.name)).all()
    return render_template("lists/consent.html", lists=lists, typed=request.args, error=error, page_labels=PAGE_LABELS,
                           retention_days=CONSENT.current().retention_days), status


@bp.get("")
@require(Permission.CONSENT_EXPORT)
def index() -> Any:
    """Show the export's choices (list, days, encoding) and how long records are kept."""
    return _page()


@bp.get("/export.csv")
@require(Permission.CONSENT_EXPORT)
def export() -> Any:
    """Download the chosen consent records as CSV, or show the page again saying what was wrong."""
    with showing_refusal(flash_it=False) as attempt:
        filters = read_filters(request.args, PAGE_LABELS)
        return csv_download(consent_csv(filters, header_language()), "consent-records", filters.encoding)
    return _page(400, attempt.error)


@api_bp.get("")
@require(Permission.CONSENT_EXPORT)
def api_export() -> Any:
    """Export consent records as CSV.
    ---
    get:
      tags: [subscribers]
      summary: Proof of consent (特定電子メール法) as CSV, by list and day, oldest first.
      description: >-
        One row per consent record: when (KAIRAN_TIMEZONE), the address, the list, the status it set, how (the
        method), the evidence (the form's wording, the import's file, the link), IP address, browser, the operator
        (the admin, API user or import's user who made the change; empty when the person did), the subscriber's
        uuid. Cells are formula-safe. Records of deleted subscribers are gone with them.
      parameters:
        - {in: query, name: list_id, schema: {type: integer, minimum: 1},
           description: 'One list; all lists when left out.'}
        - {in: query, name: from, schema: {type: string, format: date},
           description: 'The first day (local), included.'}
        - {in: query, name: to, schema: {type: string, format: date}, description: 'The last day (local), included.'}
        - {in: query, name: encoding, schema: {type: string, enum: [utf-8, cp932], default: utf-8},
           description: 'UTF-8 with a BOM, or CP932 (Shift_JIS) for older Excel.'}
        - {in: query, name: headers, schema: {type: string, enum: [en, ja]},
           description: "The header row's language."}
      responses:
        200:
          description: The CSV.
          content:
            text/csv: {schema: {type: string}}
        400: {$ref: '#/components/responses/Error'}
    """
    filters = read_filters(request.args)
    return csv_download(consent_csv(filters, header_language("en")), "consent-records", filters.encoding)
