"""Text that must stay on one line: names, subjects and senders end up in mail headers, where a line
break starts a new header (header injection: a name that brings its own ``Bcc:``).

Every entry point (forms, the API, CSV import) takes such text through ``one_line``: line breaks and
tabs fold to a space, other control characters are refused. The mail builder folds whatever the
database may still hold with ``folded`` (mailer/mime.py), so neither alone has to be perfect.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _

from core.errors import ValidationError

# C0 and C1 controls, DEL, and Unicode's line and paragraph separators.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What str.splitlines() breaks at, and tabs: a name pasted from a spreadsheet cell keeps its words.
LINE_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")


def folded(text: str) -> str:
    """Return text on one line: each run of line breaks and tabs becomes a space, other controls go."""
    return CONTROLS.sub("", LINE_BREAKS.sub(" ", text))


def one_line(value: Any, field: str, *, fold: bool = True) -> str:
    """Return an input's text stripped and on one line, or refuse it naming the field.

    Line breaks and tabs fold to one space (fold=False refuses them too, for addresses);
    NUL and the other control characters are refused.
    """
    text = value if isinstance(value, str) else str(value or "")
    if CONTROLS.search(text) is None:
        return text.strip()  # nearly every text: one scan (CONTROLS holds every line break too)
    if fold:
        text = LINE_BREAKS.sub(" ", text)
    if CONTROLS.search(text):
        raise ValidationError(_("%(field)s may not contain line breaks or control characters.", field=field))
    return text.strip()
