"""Input checks shared by every package's services."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from flask_babel import gettext as _

from core.errors import NotAChoiceError


def choice(enum_class: type[StrEnum], value: Any, field: str, default: Any = None, *, required: bool = False) -> Any:
    """Return value as a member of enum_class (default when empty and not required), or say what is allowed."""
    if value in (None, "") and not required:
        return default
    try:
        return enum_class(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_class)
        raise NotAChoiceError(_("%(field)s must be one of: %(allowed)s.", field=field, allowed=allowed),
                              field=field) from None
