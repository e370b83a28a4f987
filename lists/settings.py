"""lists' settings: how long consent records are kept (KAIRAN_CONSENT_RETENTION_DAYS).

Read and checked at start with core's (core/settings.py); code reads them as ``CONSENT.current()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.settings import Settings, SettingsError, SettingsGroup

# 特定電子メール法 asks for the proof of consent to be kept until a month after the last mail sent on it: a shorter
# retention could delete a record the law still asks for.
MIN_RETENTION_DAYS = 31


@dataclass(frozen=True)
class ConsentSettings:
    """How long a consent record is kept once the address is no longer mailed on its list."""

    retention_days: int | None  # None: kept for ever (the default)


def read_consent(env: Mapping[str, str], _core: Settings) -> ConsentSettings:
    """Read the consent records' retention."""
    raw = env.get("KAIRAN_CONSENT_RETENTION_DAYS", "").strip()
    if raw in ("", "0"):
        return ConsentSettings(None)
    if not raw.isdigit() or int(raw) < MIN_RETENTION_DAYS:
        raise SettingsError(f"KAIRAN_CONSENT_RETENTION_DAYS must be a whole number of days of {MIN_RETENTION_DAYS} "
                            f"or more (0 or unset keeps consent records for ever), not {raw!r}.")
    return ConsentSettings(int(raw))


CONSENT = SettingsGroup("consent", read_consent)
