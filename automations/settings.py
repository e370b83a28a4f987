"""automations' settings: how often due runs are woken, and how long a run's history is kept.

Read and checked at start with core's (core/settings.py); code reads them as ``AUTOMATIONS.current()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.settings import Settings, SettingsGroup, read_whole_number


@dataclass(frozen=True)
class AutomationSettings:
    """The engine's pace and memory."""

    wake_seconds: int  # due runs (a wait that ended) are moved on within this; events start theirs at once
    history_days: int  # a run's step history, and ended runs, are deleted after this many days


def read_automations(env: Mapping[str, str], _core: Settings) -> AutomationSettings:
    """Read KAIRAN_AUTOMATION_WAKE_SECONDS and KAIRAN_AUTOMATION_HISTORY_DAYS."""
    return AutomationSettings(wake_seconds=read_whole_number(env, "KAIRAN_AUTOMATION_WAKE_SECONDS", 10),
                              history_days=read_whole_number(env, "KAIRAN_AUTOMATION_HISTORY_DAYS", 180))


AUTOMATIONS = SettingsGroup("automations", read_automations)
