"""What the webhooks package refuses, each a kind from core/errors.py."""

from __future__ import annotations

from core.errors import NotFoundError, ValidationError


class EndpointNotFoundError(NotFoundError):
    """An endpoint id that is not one."""


class EndpointURLError(ValidationError):
    """A URL a webhook cannot be posted to."""


class EventTypesError(ValidationError):
    """Event types that are not ours, or none."""


class MessageNotFoundError(NotFoundError):
    """A message id that is not one of the endpoint's."""
