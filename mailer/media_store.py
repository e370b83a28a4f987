"""Where uploaded images live: the data folder (one machine), or S3-compatible storage (several).

With several web machines a folder on one of them is not enough: ``KAIRAN_MEDIA_S3_URL``
(``https://ACCESS_KEY:SECRET@s3.example.com/bucket?region=ap-northeast-1``) puts uploads in a
bucket of any S3-compatible service (AWS S3, Cloudflare R2, MinIO, Wasabi …), and readers load
them from ``KAIRAN_MEDIA_PUBLIC_URL`` (a CDN, or the bucket's public address).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app

from mailer.paths import MEDIA_FILE

CACHE_CONTROL = "public, max-age=31536000, immutable"  # a name is never reused: cache it for a year


class MediaStore(Protocol):
    """Keeps uploaded files by name and says where readers fetch them."""

    def put(self, name: str, data: bytes, content_type: str) -> None:
        """Store a file."""

    def delete(self, name: str) -> None:
        """Remove a file (nothing happens when it is gone already)."""

    def url(self, name: str) -> str:
        """Return the public URL of a file."""


class FolderStore:
    """Files in ``<data dir>/media``, served by Kairan at their MEDIA_FILE path (mailer/paths.py)."""

    def __init__(self, folder: Path, base_url: str) -> None:
        self.folder, self.base_url = folder, base_url

    def path(self, name: str) -> Path:
        """Return where a file is on disk."""
        return self.folder / name

    def put(self, name: str, data: bytes, content_type: str) -> None:
        """Write a file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path(name).write_bytes(data)

    def delete(self, name: str) -> None:
        """Remove a file."""
        self.path(name).unlink(missing_ok=True)

    def url(self, name: str) -> str:
        """Return Kairan's URL of a file."""
        uuid, _, ext = name.rpartition(".")
        return MEDIA_FILE.link(self.base_url, uuid=uuid, ext=ext)


class S3Store:
    """Files in a bucket of an S3-compatible service, through boto3."""

    def __init__(self, url: str, public_url: str | None) -> None:
        import boto3  # only installations that use S3 pay for importing it

        parts = urlsplit(url)
        endpoint = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self.bucket = parts.path.strip("/")
        region = parse_qs(parts.query).get("region", ["us-east-1"])[0]
        self.client: Any = boto3.client(
            "s3", endpoint_url=endpoint, region_name=region,
            aws_access_key_id=unquote(parts.username or ""), aws_secret_access_key=unquote(parts.password or ""))
        self.public_url = public_url or f"{endpoint}/{self.bucket}"

    def put(self, name: str, data: bytes, content_type: str) -> None:
        """Upload a file; botocore's errors propagate (the upload then fails with the reason)."""
        self.client.put_object(Bucket=self.bucket, Key=name, Body=data, ContentType=content_type,
                               CacheControl=CACHE_CONTROL)

    def delete(self, name: str) -> None:
        """Delete a file."""
        self.client.delete_object(Bucket=self.bucket, Key=name)

    def url(self, name: str) -> str:
        """Return the public URL of a file."""
        return f"{self.public_url}/{name}"


def media_store() -> FolderStore | S3Store:
    """Return the app's media store (made once per app)."""
    store = current_app.extensions.get("kairan_media_store")
    if store is None:
        settings = current_app.config["KAIRAN"]
        store = (S3Store(settings.media_s3_url, settings.media_public_url) if settings.media_s3_url
                 else FolderStore(Path(settings.data_dir) / "media", settings.base_url))
        current_app.extensions["kairan_media_store"] = store
    return store
