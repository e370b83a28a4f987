"""Domain errors: the kinds every package's failures belong to, and core's own failures.

Each kind carries its HTTP status; core/web.py answers an API call with ``{"message": …}`` and that status, and
a page with the message. A UI form shows one where the person typed (core/refusals.py). Each package names its
own failures in its ``errors.py`` as subclasses of these kinds, so status and answer stay those of the kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _

from core.auth import Permission


class KairanError(Exception):
    """Base of every error a service raises on purpose; its message is shown to the user.

    ``field`` names the input the error is about, when there is one: a form shows the message under it.
    ``links`` are phrases of the message that a page shows as links to where the problem is fixed (an API answer
    is the text alone).
    """

    status = 400

    def __init__(self, message: str, *, field: str | None = None, links: Sequence[Link] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.links = tuple(links)


@dataclass(frozen=True)
class Link:
    """A phrase of an error's message a page links to an endpoint, for those with the permission to open it."""

    phrase: str
    endpoint: str
    permission: Permission


class ValidationError(KairanError):
    """Input that cannot be accepted as given."""


class FieldsRefusedError(ValidationError):
    """Several inputs refused at once, each message by its field, so a form shows them all in one go (the first
    is the error's message and field, which is what an API answer says)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(errors[first], field=first)
        self.errors = dict(errors)


class NotFoundError(KairanError):
    """A known kind of thing with an id that does not exist (listmonk answers 400 for it)."""


class ConflictError(KairanError):
    """Something with the same unique name already exists."""

    status = 409


class PermissionDeniedError(KairanError):
    """The caller may not do this."""

    status = 403


# Core's own failures


class FormExpiredError(ValidationError):
    """A form posted without a valid CSRF token: it is old, or was not Kairan's."""

    def __init__(self) -> None:
        super().__init__(_("The form has expired or did not come from Kairan. Reload the page and try again."))


class NotAChoiceError(ValidationError):
    """A value outside a fixed set (a status, an ordering, a type); the message lists what is allowed."""


class NotANumberError(ValidationError):
    """A value that is not a whole number within the bounds its field allows."""


class UsernameTakenError(ConflictError):
    """A new user with the name of an existing one."""

    def __init__(self, name: str) -> None:
        super().__init__(_("The username %(name)s is taken.", name=name), field="username")


class LastAdminError(ValidationError):
    """A change that would leave Kairan without an enabled admin."""

    def __init__(self) -> None:
        super().__init__(_("Kairan needs at least one enabled admin."))
