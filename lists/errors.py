"""The failures of lists, subscribers, segments, suppressions and imports, named.

Each is a subclass of one of core's kinds (core/errors.py), so the API answers it with that kind's status and
``{"message": …}``, and a UI form shows it where the person typed (core/refusals.py).
"""

from __future__ import annotations

from flask_babel import gettext as _

from core.errors import ConflictError, NotFoundError, ValidationError


class InvalidAddressError(ValidationError):
    """An address (or, for a suppression, a domain) that cannot be accepted; the message says why."""


class EmailTakenError(ConflictError):
    """Another subscriber has this address already (addresses compare without case and width)."""

    def __init__(self) -> None:
        super().__init__(_("E-mail already exists."), field="email")


class SubscriberNotFoundError(NotFoundError):
    """No subscriber has the id asked for."""

    def __init__(self) -> None:
        super().__init__(_("Subscriber not found."))


class ListNotFoundError(NotFoundError):
    """No list has the id asked for."""

    def __init__(self) -> None:
        super().__init__(_("List not found."))


class UnknownListError(ValidationError):
    """The input names a list that does not exist (or that the caller may not use); the message says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="lists")


class NoListsChosenError(ValidationError):
    """Something that needs lists (a subscription, an import, a send) was given none."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _("Choose at least one list."), field="lists")


class RuleError(ValidationError):
    """A segment rule, expression or listmonk query that cannot be used; the message says which part."""


class SuppressedAlreadyError(ConflictError):
    """An address or domain that is on the suppression list already."""

    def __init__(self, value: str) -> None:
        super().__init__(_("%(value)s is suppressed already.", value=value), field="value")


class ImportRunningError(ValidationError):
    """An import asked to start, or to be deleted, while an import runs (one at a time)."""


class ImportStartedError(ValidationError):
    """An import asked to be configured or started again after it started."""

    def __init__(self) -> None:
        super().__init__(_("This import has already started."))


class UploadGoneError(ValidationError):
    """An import whose uploaded file is no longer kept (its import ended, or the sweep removed it unstarted)."""
