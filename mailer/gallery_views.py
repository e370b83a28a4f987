"""The gallery page: every starter at a phone's width, in Japanese or English, to start a campaign or a layout."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from core.auth import Permission, require
from mailer.gallery import copy_language, get_starter, starter_preview, starters
from mailer.views import preview_response

bp = Blueprint("gallery", __name__, url_prefix="/gallery")
PHONE_WIDTH = 375  # an iPhone's width in CSS pixels, the narrowest most readers see


@bp.get("/")
@require(Permission.TEMPLATES_READ)
def index() -> Any:
    """Show the starters; ?lang= picks the sample copy's language (the UI's by default)."""
    lang = copy_language(request.args.get("lang"))
    return render_template("mailer/gallery.html", starters=starters(), lang=lang, phone_width=PHONE_WIDTH)


@bp.get("/<key>/preview.html")
@require(Permission.TEMPLATES_READ)
def preview(key: str) -> Any:
    """Serve a starter as a campaign made from it shows, for the gallery's phone-sized frames."""
    return preview_response(starter_preview(get_starter(key), copy_language(request.args.get("lang"))).html)
