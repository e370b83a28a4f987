"""Uploads in S3-compatible storage, against a real S3 API server on loopback (moto's server mode)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from flask.testing import FlaskClient

from tests.helpers import api_user, png
from tests.resources import free_port

BUCKET = "kairan-media"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3 API server on a free loopback port, for the module."""
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.skip("moto's S3 server is not installed (pip install -r requirements-dev.txt)")
    port = free_port()
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k",
                          aws_secret_access_key="s")
    for _ in range(100):  # it answers within a second or two
        try:
            client.create_bucket(Bucket=BUCKET)
            break
        except Exception:  # noqa: BLE001  (connection refused until it listens)
            time.sleep(0.1)
    yield endpoint
    process.terminate()
    process.wait(10)


@pytest.fixture
def settings_env(settings_env: dict[str, str], s3_endpoint: str) -> dict[str, str]:
    """An installation keeping its media in the bucket, served to readers from a CDN address."""
    return {**settings_env, "KAIRAN_MEDIA_S3_URL": f"{s3_endpoint.replace('//', '//k:s@')}/{BUCKET}",
            "KAIRAN_MEDIA_PUBLIC_URL": "https://cdn.kairan.example/media"}


def test_uploads_go_to_the_bucket_and_mail_links_to_the_public_address(app: object, client: FlaskClient,
                                                                       s3_endpoint: str) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}  # type: ignore[arg-type]
    media = client.post("/api/media", headers=editor,
                        data={"file": (io.BytesIO(png()), "banner.png")}).get_json()["data"]
    name = f"{media['uuid']}.png"
    assert media["url"] == f"https://cdn.kairan.example/media/{name}"
    bucket = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="k",
                          aws_secret_access_key="s")
    stored = bucket.get_object(Bucket=BUCKET, Key=name)
    assert stored["Body"].read() == png() and stored["ContentType"] == "image/png"
    assert stored["CacheControl"] == "public, max-age=31536000, immutable"
    # Kairan's own /media address sends old links on to the public one.
    moved = client.get(f"/media/{name}")
    assert moved.status_code == 301 and moved.headers["Location"] == media["url"]
    assert client.delete(f"/api/media/{media['id']}", headers=editor).get_json() == {"data": True}
    assert bucket.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
