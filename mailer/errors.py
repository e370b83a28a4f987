"""The mailer's failures, named; each is one of core's kinds (core/errors.py), which sets its status and answer."""

from __future__ import annotations

from core.errors import ConflictError, ValidationError


class TemplateError(ValidationError):
    """A template (layout, body or subject) that cannot be saved; the message names the line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class RenderError(ValidationError):
    """A template that cannot be rendered for a reader (a limit, a division by zero, an undefined call)."""


class CampaignStatusError(ValidationError):
    """What was asked cannot be done to a campaign in its status: an illegal move, a change while it runs."""


class NotSendableError(ValidationError):
    """A campaign that may not be sent as it is: the law's details are missing, or its charset cannot carry it."""


class SendTimeError(ValidationError):
    """A send time that is missing, unreadable, without its offset, skipped by the clocks or past."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="send_at")


class TemplateInUseError(ValidationError):
    """A layout that cannot be deleted: it is the default, or a campaign uses it."""


class ImageRefusedError(ValidationError):
    """An upload the media library does not take: too large, or not a PNG, JPEG, GIF or WebP image."""


class KeyStateError(ValidationError):
    """A DKIM key asked to do what its state forbids: activate one that is not pending, or remove one that signs."""


class ABTestError(ValidationError):
    """An A/B test's setting out of its range (variants, share, wait, measure) or a winner that cannot be chosen."""


class NotResendableError(ValidationError):
    """A resend asked of a campaign that cannot have one: not finished, a resend itself, an automation's."""


class ResendExistsError(ConflictError):
    """A second resend of the same campaign: each campaign has at most one, and their reports link to each other."""
