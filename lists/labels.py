"""Names of the audience's states in the UI language, for templates."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

LABELS = {
    "private": _l("Private"), "public": _l("Public"),
    "single": _l("Single opt-in"), "double": _l("Double opt-in"),
    "enabled": _l("Enabled"), "disabled": _l("Disabled"), "blocklisted": _l("Blocklisted"),
    "confirmed": _l("Confirmed"), "unconfirmed": _l("Unconfirmed"), "unsubscribed": _l("Unsubscribed"),
}


IMPORT_STATUS = {
    "pending": _l("Waiting for your confirmation"), "queued": _l("Waiting for a worker"),
    "importing": _l("Importing"), "finished": _l("Finished"), "failed": _l("Failed"), "cancelled": _l("Cancelled"),
}
TARGET_LABELS = {"email": _l("Email address"), "name": _l("Name"), "attribute": _l("Attribute"),
                 "attribs_json": _l("Attributes as JSON"), "ignore": _l("Do not import")}
REASON_LABELS = {"manual": _l("Added by hand"), "unsubscribed": _l("Unsubscribed"),
                 "hard_bounce": _l("Hard bounce"), "complaint": _l("Spam complaint")}
TYPE_LABELS = {"text": _l("Text"), "number": _l("Number"), "boolean": _l("Yes/no"), "date": _l("Date")}


def label(value: object) -> str:
    """Return the UI name of a list type, opt-in, subscriber or subscription state."""
    key = getattr(value, "value", value)
    return str(LABELS.get(str(key), key))


def init_app(app: Flask) -> None:
    """Make the labels available to templates."""
    app.jinja_env.globals.update(
        state_label=label, target_labels=TARGET_LABELS,
        type_labels=TYPE_LABELS, reason_labels=REASON_LABELS,
        import_status_label=lambda status: str(IMPORT_STATUS.get(str(getattr(status, "value", status)), status)),
    )
