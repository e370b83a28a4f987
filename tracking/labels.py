"""Words the UI uses for tracking's names: why an open or click was a machine's, what kind a bounce was."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from tracking.models import BounceType

# classify.py's machine rules, as a reader of the report or the timeline understands them.
MACHINE_RULES = {
    "head_request": _l("a link checker (HEAD request)"),
    "prefetch_header": _l("a prefetch"),
    "apple_mpp": _l("Apple Mail Privacy Protection"),
    "scanner_user_agent": _l("a security scanner"),
    "no_user_agent": _l("a script without a user agent"),
    "same_second_clicks": _l("a scanner clicking every link at once"),
    "click_right_after_delivery": _l("a click seconds after delivery"),
}

BOUNCE_TYPES = {BounceType.HARD: _l("Hard bounce"), BounceType.SOFT: _l("Soft bounce"),
                BounceType.COMPLAINT: _l("Complaint")}


def machine_rule(rule: str) -> str:
    """Return why an event was judged a machine's, in the UI language (the rule's name if unknown)."""
    return str(MACHINE_RULES.get(rule, rule))
