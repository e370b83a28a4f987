"""Domain errors; each blueprint turns them into a page or a JSON ``{"message": …}``."""

from __future__ import annotations


class KairanError(Exception):
    """Base of every error a service raises on purpose; its message is shown to the user."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(KairanError):
    """Input that cannot be accepted as given."""


class NotFoundError(KairanError):
    """A known kind of thing with an id that does not exist (listmonk answers 400 for it)."""


class ConflictError(KairanError):
    """Something with the same unique name already exists."""

    status = 409


class PermissionDeniedError(KairanError):
    """The caller may not do this."""

    status = 403
