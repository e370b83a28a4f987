"""Input checks shared by every package's services."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from flask_babel import gettext as _

from core.errors import FieldsRefusedError, NotAChoiceError, ValidationError

T = TypeVar("T")


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


class FieldChecks:
    """A service's field checks run one after another, each refusal kept by its field, so that a form says every
    problem at once (``refuse_any`` raises them as one FieldsRefusedError, the first being what an API answer says).

    ``names`` is how messages name each field: a form's labels, so a person reads what is on the page; a field
    without one (every field of an API call) is named by its parameter.
    """

    def __init__(self, names: Mapping[str, Any] | None = None) -> None:
        self.names = {field: str(name) for field, name in (names or {}).items()}
        self.errors: dict[str, str] = {}

    @property
    def shown_by_field(self) -> bool:
        """Whether each message is shown by its field, on a form (so it need not say which field it is about)."""
        return bool(self.names)

    def name(self, field: str, default: str | None = None) -> str:
        """How a message names ``field``: its label on a form, else ``default``, else the parameter."""
        return self.names.get(field) or default or field

    def run(self, field: str, check: Callable[[], T], instead: T) -> T:
        """Return what ``check`` returns; a refusal is kept by the field it names (``field`` if it names none, or
        names it by its label) and ``instead`` returned, so the next checks run too (it is never saved: the
        refusals are raised first)."""
        try:
            return check()
        except FieldsRefusedError as refused:
            for name, message in refused.errors.items():
                self.errors.setdefault(self._field(name, field), message)
        except ValidationError as error:
            self.errors.setdefault(self._field(error.field, field), error.message)
        return instead

    def refuse_any(self) -> None:
        """Raise every refusal kept so far, if there is one."""
        if self.errors:
            raise FieldsRefusedError(self.errors)

    def _field(self, named: str | None, field: str) -> str:
        # A check handed a label for its messages names its field by that label too: take it back to the field.
        return next((f for f, name in self.names.items() if name == named), named or field)
