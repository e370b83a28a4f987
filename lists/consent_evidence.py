"""A consent record's evidence: stored as a code with its values, worded in the reader's language when shown.

A record made by an English API call, an import run by a worker or a Japanese admin is read later by
anyone, in either language: so the record keeps what happened ({"code": "import", "file": …, "user": …})
and the page, the timeline and the data export say it in their reader's words. A form's wording is
kept as the text the person agreed to (it is the proof), as are records older than the codes.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from flask_babel import gettext as _

from core.db import json_text

PHRASES: dict[str, Callable[[dict[str, str]], str]] = {
    "import": lambda v: _("Import of %(file)s by %(user)s", file=v.get("file", ""), user=v.get("user", "")),
    "api": lambda v: _("API user %(user)s", user=v.get("user", "")),
    "admin": lambda v: v.get("user", ""),  # the method already says "by an admin": here, which one
    "optin_link": lambda v: _("Opt-in confirmation link"),
    "preferences_page": lambda v: _("Preferences page"),
    "unsubscribe_page": lambda v: _("Unsubscribe page"),
    "one_click": lambda v: _("One-click unsubscribe from the mail client (RFC 8058)"),
    "mailto": lambda v: _("Unsubscribe by email (List-Unsubscribe mailto:)"),
}


def coded(code: str, **values: str) -> str:
    """The evidence to store: ``code`` (a key of PHRASES) and its values, as JSON."""
    return json_text({"code": code, **values})


def describe(evidence: str) -> str:
    """Say stored evidence in the reader's language; free text (a form's wording, older records) stays as it is."""
    if not evidence.startswith('{"code":'):
        return evidence
    try:
        values = json.loads(evidence)
    except ValueError:
        return evidence
    phrase = PHRASES.get(str(values.get("code")))
    return phrase({str(k): str(v) for k, v in values.items()}) if phrase else evidence


def operator(evidence: str) -> str:
    """Who made the change, when a person of ours did (an admin, an API user, an import's user); else empty."""
    if not evidence.startswith('{"code":'):
        return ""
    try:
        return str(json.loads(evidence).get("user", ""))
    except ValueError:
        return ""
