"""The failures of customer events, named.

Each is a subclass of one of core's kinds (core/errors.py), so the API answers it with that kind's status. A batch
answers each bad event's error by its index (automations/events.py), and stores the good ones.
"""

from __future__ import annotations

from flask_babel import gettext as _

from core.errors import ConflictError, NotFoundError, ValidationError


class EventBatchTooLargeError(ValidationError):
    """A batch of more events than one request may carry; none of it is stored."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(_("A batch has at most %(limit)s events; this one has %(count)s. Send it in several "
                           "requests.", limit=limit, count=count), field="events")


class EventNameError(ValidationError):
    """An event name outside [a-z0-9_.:-]{1,64}."""

    def __init__(self) -> None:
        super().__init__(_("name must be 1 to 64 characters of a-z, 0-9, _ . : and -, like purchase or "
                           "cart_abandoned."), field="name")


class EventPropertiesError(ValidationError):
    """Properties that are not a JSON object, or too large to keep."""


class EventTimeError(ValidationError):
    """An occurred_at that is not a time with its offset, or more than a day ahead."""


class SubscriberChoiceError(ValidationError):
    """An event that names its subscriber in none or several ways, or in a way that cannot name anyone."""


class UnknownSubscriberError(NotFoundError):
    """An event of a subscriber who does not exist (and who was not to be created)."""

    def __init__(self) -> None:
        super().__init__(_("No subscriber has this id, uuid or address (with an address, create_subscriber: true "
                           "adds one)."), field="subscriber")


class DefinitionError(ValidationError):
    """An automation's definition that cannot run, naming the step (or part: trigger, entry, exit) at fault."""

    def __init__(self, message: str, step: str | None = None) -> None:
        super().__init__(message, field=f"steps.{step}" if step else "definition")
        self.step = step


class AutomationStateError(ConflictError):
    """A change an automation's status does not allow (activating an archived one, editing a run's version)."""


class InUseError(ConflictError):
    """A list, segment or message that a live automation uses, which may not be deleted."""
