"""email-validator's reasons an address is refused, in the reader's language.

email-validator words its reasons in English only. The ones people meet are matched here by how
they begin and said again through gettext; what follows a colon (the offending characters) is
kept. A reason not listed stays in English rather than be lost.
"""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

KNOWN_REASONS: tuple[tuple[str, LazyString], ...] = (
    ("An email address must have an @-sign.", _l("It has no @.")),
    ("There must be something before the @-sign.", _l("Nothing comes before the @.")),
    ("There must be something after the @-sign.", _l("Nothing comes after the @.")),
    ("An email address cannot have two periods in a row.", _l("It has two periods in a row.")),
    ("An email address cannot start with a period.", _l("It starts with a period.")),
    ("An email address cannot end with a period.", _l("It ends with a period.")),
    ("An email address cannot have a period immediately before the @-sign.", _l("A period comes right before the @.")),
    ("An email address cannot have a period immediately after the @-sign.", _l("A period comes right after the @.")),
    ("An email address cannot end with a hyphen.", _l("The domain ends with a hyphen.")),
    ("An email address cannot have a hyphen immediately after the @-sign.", _l("A hyphen comes right after the @.")),
    ("An email address cannot have a period and a hyphen next to each other.",
     _l("The domain has a period and a hyphen next to each other.")),
    ("The part after the @-sign is not valid. It should have a period.",
     _l("The part after the @ needs a period (example.jp).")),
    ("The part after the @-sign is not valid. It is not within a valid top-level domain.",
     _l("The part after the @ does not end in a real top-level domain.")),
    ("The part after the @-sign is a special-use or reserved name that cannot be used with email.",
     _l("The part after the @ is a reserved name that cannot receive mail.")),
    ("The part after the @-sign contains invalid characters", _l("The part after the @ has characters not allowed")),
    ("The email address contains invalid characters before the @-sign",
     _l("The part before the @ has characters not allowed")),
    ("The email address contains unsafe characters", _l("It has characters that are not allowed")),
    ("The email address contains an invalid character.", _l("It has a character that is not allowed.")),
    ("The email address is too long", _l("It is too long.")),
    ("Internationalized characters before the @-sign are not supported",
     _l("Characters other than ASCII are not allowed before the @")),
    ('The email address has the "small commercial at" character', _l("It has a small ＠ instead of @.")),
    ("A display name and angle brackets around the email address are not permitted here.",
     _l("Give the address alone, without a name or angle brackets.")),
    ("There can't be anything after the email address.", _l("Something follows the address.")),
    ("Quoting the part before the @-sign is not allowed here.", _l("Quotes are not allowed before the @.")),
)


def translated_reason(reason: str) -> str:
    """Return email-validator's ``reason`` in the reader's language, keeping the characters it names."""
    for start, said in KNOWN_REASONS:
        if reason.startswith(start):
            rest = reason[len(start):]
            detail = rest.partition(": ")[2] if ": " in rest else ""
            return f"{said}: {detail.rstrip('.')}" if detail else str(said)
    return reason
