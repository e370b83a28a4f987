"""A subscriber's timeline of touchpoints, merged from sources each package registers.

lists registers subscriptions, confirmations and unsubscribes; later packages add sends,
opens, clicks, bounces and custom events the same way, without lists importing them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class TimelineEvent:
    """One touchpoint, ready to show: when, what kind, a sentence, and details."""

    at: datetime
    kind: str  # a stable name for icons and filters: "subscribed", "confirmed", "unsubscribed", …
    title: str  # in the UI language
    detail: str = ""
    url: str = ""  # where the title links to (a campaign's report, say); none when empty


# A source returns at most ``limit`` events of one subscriber, newest first.
TimelineSource = Callable[[int, int], list[TimelineEvent]]


def register(app: Flask, source: TimelineSource) -> None:
    """Add a source of touchpoints to the app's subscriber timeline."""
    app.extensions.setdefault("kairan_timeline", []).append(source)


def timeline(subscriber_id: int, limit: int = DEFAULT_LIMIT) -> list[TimelineEvent]:
    """Return a subscriber's newest touchpoints from every source, newest first."""
    streams = [source(subscriber_id, limit) for source in current_app.extensions.get("kairan_timeline", [])]
    return list(heapq.merge(*streams, key=lambda event: event.at, reverse=True))[:limit]
