"""Signed tokens for links in mail and public pages (unsubscribe, preferences, opt-in, later tracking).

Signed with the secret key and a salt per purpose, so a token made for one link cannot be
used for another; a forged or altered token is simply not valid (the page says so, and
does nothing).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer


class Purpose(StrEnum):
    """What a token opens; each purpose signs with its own salt."""

    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    OPTIN = "optin"


def _serializer(purpose: Purpose) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"kairan.{purpose.value}")


def make_token(purpose: Purpose, payload: Any) -> str:
    """Return a URL-safe signed token carrying payload (kept small: ids and uuids only)."""
    return str(_serializer(purpose).dumps(payload))


def read_token(purpose: Purpose, token: str) -> Any | None:
    """Return the token's payload, or None when it was not signed by this Kairan for this purpose."""
    try:
        return _serializer(purpose).loads(token)
    except BadSignature:
        return None
