"""listmonk's media API: the images campaigns show."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from core.auth import Permission, require
from mailer.errors import ImageRefusedError
from mailer.media import all_media, delete_media, get_media, media_as_dict, upload

bp = Blueprint("media_api", __name__, url_prefix="/api")


@bp.get("/media")
@require(Permission.CAMPAIGNS_READ)
def get_media_list() -> Any:
    """List uploaded images.
    ---
    get:
      tags: [media]
      summary: Every uploaded image with its public URL.
      responses:
        200: {description: The images.}
    """
    return jsonify(data=[media_as_dict(m) for m in all_media()])


@bp.post("/media")
@require(Permission.CAMPAIGNS_WRITE)
def post_media() -> Any:
    """Upload an image.
    ---
    post:
      tags: [media]
      summary: Upload an image (multipart field `file`; PNG, JPEG, GIF or WebP up to 5 MB).
      responses:
        200: {description: The image.}
        400: {$ref: '#/components/responses/Error'}
    """
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ImageRefusedError(_("Choose an image to upload."))
    return jsonify(data=media_as_dict(upload(file.filename, file.stream)))


@bp.delete("/media/<int:media_id>")
@require(Permission.CAMPAIGNS_WRITE)
def delete_one_media(media_id: int) -> Any:
    """Delete an image.
    ---
    delete:
      tags: [media]
      summary: Delete an uploaded image and its file.
      parameters: [{in: path, name: media_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: 'Done: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
    """
    delete_media(get_media(media_id))
    return jsonify(data=True)
