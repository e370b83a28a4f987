"""The mailer's errors; the blueprints show them as a page message or a JSON ``{"message": …}``."""

from __future__ import annotations

from core.errors import ValidationError


class TemplateError(ValidationError):
    """A template (layout, body or subject) that cannot be saved; the message names the line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class RenderError(ValidationError):
    """A template that cannot be rendered for a reader (a limit, a division by zero, an undefined call)."""


class FieldError(ValidationError):
    """Input refused because of one field, which the form shows the message under."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
