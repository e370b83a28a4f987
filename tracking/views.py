"""The open pixel and the click redirect that every campaign message links to.

Both are answered by a WSGI layer in front of Flask (``TrackingFastPath``): hundreds of mail
clients may fetch a pixel in the same second, and Flask's per-request work (session, language,
permission hooks) would cost more than the answer. The pixel always answers with a 1×1 GIF,
whatever the token and whatever happens behind it. The redirect sends the reader to the URL the
``links`` table holds for the token's link, never to one read from the request, so it cannot be
used to bounce people to other sites. A request whose token this Kairan signed is recorded by one
XADD to a Redis stream (tracking/stream.py); no database is touched on the pixel's path, and
the redirect reads a link's URL once a minute per process at most. What the fast path does not
answer (a forged, unknown or malformed click token) reaches Flask, which shows a neutral page.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, render_template
from sqlalchemy import select
from werkzeug.urls import iri_to_uri

from core.auth import public
from core.db import db
from core.tokens import Mark, mark_key, mark_token, read_mark_token
from mailer.models import Link
from mailer.paths import CLICK, OPEN_PIXEL, SURVEY_ANSWER, SURVEY_PARAMETER
from tracking.models import EventKind
from tracking.settings import CONVERSIONS
from tracking.stream import Hit, is_prefetch, writer_for

bp = Blueprint("tracking", __name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")  # 1×1 transparent GIF
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0", "Pragma": "no-cache",
            "Expires": "0"}
PIXEL_STATUS = "200 OK"
PIXEL_HEADERS = [("Content-Type", "image/gif"), ("Content-Length", str(len(PIXEL))), *NO_CACHE.items()]
LINK_CACHE_SECONDS = 60.0  # a link's URL never changes; a deleted campaign's links stop redirecting within this
LINK_CACHE_SIZE = 10_000

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
FAST_PATHS = (OPEN_PIXEL.prefix, CLICK.prefix)  # what the fast path looks at; everything else goes to Flask
PARAMETER = "kairan_c"  # the delivery, signed, for a shop's checkout to send back with the purchase


def with_parameter(url: str, name: str, value: str) -> str:
    """The URL with one more query parameter, before any fragment (the link's own parameters kept as written)."""
    base, hash_mark, fragment = url.partition("#")
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{name}={value}{hash_mark}{fragment}"


@bp.get(CLICK.rule)
@public
def click(token: str) -> Any:
    """The neutral page for a click token the fast path did not recognise (forged, unknown or malformed)."""
    return render_template("tracking/unknown_link.html"), 404, NO_CACHE


class TrackingFastPath:
    """WSGI middleware: answers the open pixel and known click tokens before Flask dispatches (mailer/paths.py)."""

    def __init__(self, app: Flask, next_app: WSGIApp) -> None:
        self.app, self.next_app = app, next_app
        self.links: dict[int, tuple[str, float]] = {}  # link id -> (URL, good until)
        self.key: bytes | None = None
        self.conversion_parameter = CONVERSIONS.of(app.config["KAIRAN"]).link_parameter
        self.survey_prefix = app.config["KAIRAN"].base_url + SURVEY_ANSWER.prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if method in ("GET", "HEAD") and path.startswith(FAST_PATHS):
            answer = self._answer(environ, path)
            if answer is not None:
                status, headers = answer
                start_response(status, headers)
                return [PIXEL] if status == PIXEL_STATUS and method == "GET" else []
        return self.next_app(environ, start_response)

    def _answer(self, environ: dict[str, Any], path: str) -> tuple[str, list[tuple[str, str]]] | None:
        """The status and headers to answer with, or None for Flask to answer.

        Plain WSGI, no request or response objects: this runs for every pixel of every message.
        """
        key = self.key = self.key or mark_key(self.app.config["SECRET_KEY"])
        token = OPEN_PIXEL.value_in(path)
        if token is not None:
            ids = read_mark_token(Mark.OPEN, token, key)
            if ids is not None and len(ids) == 1:
                self._record(environ, EventKind.OPEN, ids[0])
            return PIXEL_STATUS, PIXEL_HEADERS
        token = CLICK.value_in(path)
        ids = read_mark_token(Mark.CLICK, token, key) if token is not None else None
        location = self._link_url(ids[1]) if ids is not None and len(ids) == 2 else None
        if ids is None or location is None:
            return None  # Flask shows the neutral page
        self._record(environ, EventKind.CLICK, ids[0], ids[1])
        if location.startswith(self.survey_prefix):  # the confirm page must know whose answer it is
            location = with_parameter(location, SURVEY_PARAMETER, mark_token(Mark.SURVEY, ids[0], key=key))
        elif self.conversion_parameter:
            location = with_parameter(location, PARAMETER, mark_token(Mark.CONVERSION, ids[0], key=key))
        return "302 Found", [("Location", location), ("Content-Length", "0"), *NO_CACHE.items()]

    def _record(self, environ: dict[str, Any], kind: EventKind, delivery_id: int, link_id: int | None = None) -> None:
        writer_for(self.app).append(Hit(kind, delivery_id, link_id, environ.get("HTTP_USER_AGENT", ""),
                                        environ.get("REMOTE_ADDR"), head=environ["REQUEST_METHOD"] == "HEAD",
                                        prefetch=is_prefetch(environ)))

    def _link_url(self, link_id: int) -> str | None:
        """Return a link's URL, from this process's cache when it was read in the last minute.

        The token's signature binds its delivery to its link, so the link alone says where to go.
        """
        now = time.monotonic()
        cached = self.links.get(link_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        with self.app.app_context():
            url = db.session.scalar(select(Link.url).where(Link.id == link_id))
        if url is not None:
            url = iri_to_uri(url)  # a header is ASCII: a Japanese path or domain is percent-encoded or punycoded
            if len(self.links) >= LINK_CACHE_SIZE:
                self.links.clear()  # crude, and rare: a cache miss costs one primary-key read
            self.links[link_id] = (url, now + LINK_CACHE_SECONDS)
        return url
