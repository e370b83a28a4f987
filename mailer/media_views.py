"""UI pages for the media library: the images campaigns show, uploaded, deleted, and served to mail clients."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from core.auth import Permission, public, require
from core.forms import ConfirmForm
from core.refusals import showing_refusal
from mailer.media import all_media, by_uuid, delete_media, get_media, media_as_dict, stored_name, upload
from mailer.media_store import FolderStore, media_store
from mailer.paths import MEDIA_FILE

bp = Blueprint("media", __name__)
CACHE_A_YEAR = 365 * 24 * 3600


@bp.get("/media/")
@require(Permission.CAMPAIGNS_READ)
def index() -> Any:
    """Show the media library."""
    return render_template("mailer/media.html", media=[media_as_dict(m) for m in all_media()], form=ConfirmForm())


@bp.post("/media/upload")
@require(Permission.CAMPAIGNS_WRITE)
def upload_images() -> Any:
    """Upload images (the library page's form, or the visual editor's asset manager, which wants JSON)."""
    wants_json = request.accept_mimetypes.best == "application/json"
    if not ConfirmForm().validate_on_submit():
        abort(400)
    uploaded, errors = [], []
    for file in request.files.getlist("files") or request.files.getlist("files[]"):
        with showing_refusal(flash_it=not wants_json) as attempt:  # one refused image does not stop the others
            uploaded.append(media_as_dict(upload(file.filename or "image", file.stream)))
        if attempt.message is not None:
            errors.append(attempt.message)
    if wants_json:
        return jsonify(data=[{"src": m["url"], "name": m["filename"], "type": "image"} for m in uploaded],
                       errors=errors), 200 if uploaded or not errors else 400
    if uploaded:
        flash(_("%(n)d images uploaded.", n=len(uploaded)), "success")
    return redirect(url_for("media.index"))


@bp.post("/media/<int:media_id>/delete")
@require(Permission.CAMPAIGNS_WRITE)
def delete(media_id: int) -> Any:
    """Delete an image."""
    if ConfirmForm().validate_on_submit():
        delete_media(get_media(media_id))
        flash(_("Image deleted."), "success")
    return redirect(url_for("media.index"))


@bp.get(MEDIA_FILE.rule)
@public
def image(uuid: str, ext: str) -> Any:
    """Serve an image to mail clients; its URL never changes, so it may be cached for a year."""
    found = by_uuid(uuid)
    if found is None or stored_name(found) != f"{uuid}.{ext}":
        abort(404)
    store = media_store()
    if not isinstance(store, FolderStore):  # mail names the bucket's URL; an old link still finds the image
        return redirect(store.url(stored_name(found)), 301)
    path = store.path(stored_name(found))
    if not path.exists():
        abort(404)
    return send_file(path, mimetype=found.content_type, max_age=CACHE_A_YEAR, conditional=True)
