"""Campaign figures that a lower package shows but a higher one computes (mailer's campaign list, tracking's counts).

tracking registers a source; mailer asks through here, so mailer never imports tracking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flask import Flask, current_app

# A source returns, per campaign id it knows, figures by name (listmonk's views, clicks, bounces).
CountsSource = Callable[[Sequence[int]], dict[int, dict[str, int]]]


def register(app: Flask, source: CountsSource) -> None:
    """Add a source of per-campaign figures."""
    app.extensions.setdefault("kairan_campaign_stats", []).append(source)


def campaign_counts(campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Return every registered source's figures for these campaigns, merged per campaign."""
    merged: dict[int, dict[str, int]] = {}
    if not campaign_ids:
        return merged
    for source in current_app.extensions.get("kairan_campaign_stats", []):
        for campaign_id, figures in source(campaign_ids).items():
            merged.setdefault(campaign_id, {}).update(figures)
    return merged
