"""Benchmark: fixing a campaign's audience of 1,000,000 recipients in one INSERT … SELECT.

Seeds as bench/audience.py does (subscribers spread over 5 lists), then materialises a
campaign to all 5 lists: every subscriber once. Prints one JSON line, last: the seconds and
rows per second of the INSERT (median of REPEATS, each into a new campaign) and the target.
Run: .venv/bin/python -m bench.materialise [--subscribers 1000000] [--database-url URL]
"""

from __future__ import annotations

import json
import statistics
import time

from bench.audience import LISTS, seeded_app
from core.db import db
from mailer.models import Campaign
from mailer.queries import materialise

REPEATS = 3


def main() -> None:
    """Seed, then time materialise."""
    app, subscribers = seeded_app("materialise")
    with app.app_context():
        lists = list(range(1, LISTS + 1))
        samples, recipients = [], 0
        for run in range(REPEATS):
            campaign = Campaign(name=f"bench {run}", subject="bench", lists=lists)
            db.session.add(campaign)
            db.session.commit()
            started = time.perf_counter()
            recipients = materialise(campaign.id, lists)
            db.session.commit()
            samples.append(time.perf_counter() - started)
        seconds = statistics.median(samples)
        print(json.dumps({
            "benchmark": "materialise", "database": db.engine.dialect.name, "subscribers": subscribers,
            "recipients": recipients, "seconds": round(seconds, 2), "rows_per_s": round(recipients / seconds),
            "target_seconds": 5,
        }))


if __name__ == "__main__":
    main()
