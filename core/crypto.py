"""Secrets Kairan must read back (DKIM keys, relay passwords), encrypted with a key derived from the secret key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet
from flask import current_app


def cipher(purpose: str) -> Fernet:
    """Return the Fernet cipher for one purpose ("dkim", "relay"): each purpose gets its own key.

    The key comes from KAIRAN_SECRET_KEY, so a new secret key makes what was stored unreadable.
    """
    digest = hashlib.sha256(f"kairan.{purpose}:".encode() + current_app.config["SECRET_KEY"].encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))
