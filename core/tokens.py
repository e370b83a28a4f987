"""Signed tokens for links in mail and public pages (unsubscribe, preferences, opt-in) and short marks (tracking).

Signed with the secret key and a salt per purpose, so a token made for one link cannot be
used for another; a forged or altered token is simply not valid (the page says so, and
does nothing). Test sends and previews get test tokens, signed with a salt of their own: a
page tells them apart without a database lookup, and a test token can never pass for a real one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer


class Purpose(StrEnum):
    """What a token opens; each purpose signs with its own salt."""

    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    OPTIN = "optin"


def _serializer(purpose: Purpose, test: bool) -> URLSafeSerializer:
    salt = f"kairan.test.{purpose.value}" if test else f"kairan.{purpose.value}"
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def make_token(purpose: Purpose, payload: Any, *, test: bool = False) -> str:
    """Return a URL-safe signed token carrying payload (kept small: ids and uuids only).

    ``test``: a test message's token, which the public pages answer with a page that changes nothing.
    """
    return str(_serializer(purpose, test).dumps(payload))


def read_token(purpose: Purpose, token: str, *, test: bool = False) -> Any | None:
    """Return the token's payload, or None when it was not signed by this Kairan for this purpose (and kind)."""
    try:
        return _serializer(purpose, test).loads(token)
    except BadSignature:
        return None


def is_test_token(purpose: Purpose, token: str) -> bool:
    """Whether a token was signed here for a test message (or a preview) for this purpose."""
    return read_token(purpose, token, test=True) is not None


class Mark(StrEnum):
    """What a short delivery token in a message stands for: the open pixel, a click, a bounce or unsubscribe address."""

    OPEN = "o"
    CLICK = "c"
    BOUNCE = "b"
    UNSUBSCRIBE = "u"  # List-Unsubscribe's mailto: address (the inbound server reads it)
    MESSAGE = "m"  # the Message-ID: the same on every try, from any machine, so a receiver can drop a copy
    CONVERSION = "k"  # kairan_c: the redirect hands it to the shop, whose checkout sends it back with a purchase
    SURVEY = "s"  # the redirect hands it to a survey answer's confirm page: whose answer it is


# The local parts of the two addresses a message carries for its delivery, each followed by its mark token: the
# return path (VERP; bounces come back to it) and List-Unsubscribe's mailto:. Mailer writes them; tracking's
# inbound server and bounce parser read them.
RETURN_PATH_PREFIX = "bounce+"
UNSUBSCRIBE_PREFIX = "unsubscribe+"
SIGNATURE_HEX = 16  # 64 bits of HMAC: forging one token takes ~2^63 tries, each a request
MARK_SHAPE = re.compile(r"(?:[0-9a-f]{1,15}-){1,2}[0-9a-f]{16}")


def mark_key(secret_key: str | None = None) -> bytes:
    """Return the key mark tokens are signed with, derived from the secret key (the current app's by default)."""
    return hashlib.sha256(b"kairan.mark:" + (secret_key or current_app.config["SECRET_KEY"]).encode()).digest()


def mark_token(mark: Mark, *ids: int, key: bytes | None = None) -> str:
    """Return a short token naming a delivery (and a link): lowercase hex, so VERP survives case-folding MTAs.

    ``key`` (from ``mark_key()``) spares the send loop one hash per token.
    """
    payload = "-".join(f"{number:x}" for number in ids)
    digest = hmac.new(key or mark_key(), f"{mark.value}{payload}".encode(), hashlib.sha256).hexdigest()
    return f"{payload}-{digest[:SIGNATURE_HEX]}"


def read_mark_token(mark: Mark, token: str, key: bytes | None = None) -> tuple[int, ...] | None:
    """Return the ids a token names, or None when it is malformed or was not signed here for this mark."""
    if not MARK_SHAPE.fullmatch(token.lower()):
        return None
    *numbers, signature = token.lower().split("-")
    ids = tuple(int(number, 16) for number in numbers)
    expected = mark_token(mark, *ids, key=key).rpartition("-")[2]
    return ids if hmac.compare_digest(expected, signature) else None
