"""Outgoing webhooks' settings (tracking has the incoming ones): how often waiting messages (retries that fell
due, kicks Redis missed) are looked for.

Read and checked at start with core's (core/settings.py); code reads them as ``OUTGOING.current()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.settings import Settings, SettingsGroup, read_whole_number


@dataclass(frozen=True)
class WebhookSettings:
    """The dispatcher's pace."""

    dispatch_seconds: int


def read_outgoing(env: Mapping[str, str], _core: Settings) -> WebhookSettings:
    """Read KAIRAN_WEBHOOK_DISPATCH_SECONDS."""
    return WebhookSettings(dispatch_seconds=read_whole_number(env, "KAIRAN_WEBHOOK_DISPATCH_SECONDS", 10))


OUTGOING = SettingsGroup("outgoing_webhooks", read_outgoing)
