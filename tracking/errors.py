"""Errors of bounce and complaint intake, named; core/web.py answers each with its status and message."""

from __future__ import annotations

from core.errors import KairanError, ValidationError


class WebhookOffError(KairanError):
    """A provider's webhook was called while its settings are unset (the message names them)."""

    status = 404


class SignatureError(KairanError):
    """A webhook call whose signature, password or timestamp does not prove it came from the provider."""

    status = 401


class EventBodyError(ValidationError):
    """A provider's webhook post that cannot be read as its events (the message says what is wrong)."""


class NoBestSlotError(ValidationError):
    """A heatmap with no human open yet has no best slot to schedule at."""


class NotADraftError(ValidationError):
    """Only a draft campaign is scheduled at a heatmap's best slot."""
