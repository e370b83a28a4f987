"""The media library: images uploaded for campaigns, stored under their uuid (mailer/media_store.py says where)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import IO, Any

from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from core.db import db
from core.errors import NotFoundError
from mailer.errors import ImageRefusedError
from mailer.media_store import media_store
from mailer.models import Media

MAX_BYTES = 5 * 1024 * 1024  # larger images make mail slow on phones; resize before uploading
MAX_PIXELS = 40_000_000  # Pillow's guard against decompression bombs, made explicit
FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "GIF": ("image/gif", "gif"),
           "WEBP": ("image/webp", "webp")}


def stored_name(media: Media) -> str:
    """Return the name an upload's bytes are stored under."""
    return f"{media.uuid}.{FORMATS[_format_of(media)][1]}"


def _format_of(media: Media) -> str:
    return next(name for name, (content_type, _ext) in FORMATS.items() if content_type == media.content_type)


def upload(filename: str, stream: IO[bytes]) -> Media:
    """Store an uploaded image after checking its size and that its bytes are an image Kairan accepts."""
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ImageRefusedError(_("%(name)s is larger than %(mb)d MB.", name=filename, mb=MAX_BYTES // 1024 // 1024))
    try:
        with Image.open(BytesIO(data)) as image:
            image.verify()
            kind, (width, height) = image.format or "", image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ImageRefusedError(_("%(name)s is not a PNG, JPEG, GIF or WebP image.", name=filename)) from None
    if kind not in FORMATS or width * height > MAX_PIXELS:
        raise ImageRefusedError(_("%(name)s is not a PNG, JPEG, GIF or WebP image.", name=filename))
    media = Media(filename=Path(filename).name[:255] or "image", content_type=FORMATS[kind][0], size=len(data),
                  width=width, height=height)
    db.session.add(media)
    db.session.flush()
    media_store().put(stored_name(media), data, media.content_type)
    db.session.commit()
    return media


def all_media() -> list[Media]:
    """Return every upload, newest first."""
    return list(db.session.scalars(select(Media).order_by(Media.id.desc())))


def get_media(media_id: int) -> Media:
    """Return an upload or raise NotFoundError."""
    media = db.session.get(Media, media_id)
    if media is None:
        raise NotFoundError(_("Media not found."))
    return media


def by_uuid(uuid: str) -> Media | None:
    """Return the upload with this uuid (public URLs carry it)."""
    return db.session.scalar(select(Media).where(Media.uuid == uuid))


def delete_media(media: Media) -> None:
    """Delete an upload and its file (campaigns already sent keep working only if they were sent)."""
    media_store().delete(stored_name(media))
    db.session.delete(media)
    db.session.commit()


def media_url(media: Media) -> str:
    """Return the public URL mail clients load the image from."""
    return media_store().url(stored_name(media))


def media_as_dict(media: Media) -> dict[str, Any]:
    """Serialise an upload as listmonk does (url, thumb_url), with its size."""
    url = media_url(media)
    return {"id": media.id, "uuid": media.uuid, "filename": media.filename, "content_type": media.content_type,
            "size": media.size, "width": media.width, "height": media.height, "url": url, "thumb_url": url,
            "created_at": media.created_at.isoformat()}
