"""Benchmark: fixing a campaign's audience of 1,000,000 recipients in one INSERT … SELECT.

Seeds as bench/audience.py does (subscribers spread over 5 lists), adds a suppression list as a
running install has one (10,000 addresses and 20 domains, none of them a subscriber's: the audience
stays every subscriber, and the database plans against a real suppression table, not an empty one),
then materialises a campaign to all 5 lists: every subscriber once. Prints one JSON line, last: the seconds and
rows per second of the INSERT (median of REPEATS, each into a new campaign, every sample listed) and the target.
Run: .venv/bin/python -m bench.materialise [--subscribers 1000000] [--database-url URL]
"""

from __future__ import annotations

import json
import statistics
import time

from sqlalchemy import text

from bench.audience import LISTS, seeded_app
from core.db import db
from mailer.models import Campaign
from mailer.queries import materialise

REPEATS = 5
SUPPRESSED_ADDRESSES, SUPPRESSED_DOMAINS = 10_000, 20
SUPPRESS = text("INSERT INTO suppressions (value, is_domain, reason, source, created_at) "
                "VALUES (:value, :is_domain, 'manual', 'bench', '2026-01-01')")


def add_suppressions() -> None:
    """Suppress addresses and domains that no subscriber has (subscribers are user<i>@example.jp)."""
    rows = ([{"value": f"gone{i}@example.net", "is_domain": False} for i in range(SUPPRESSED_ADDRESSES)]
            + [{"value": f"spam{i}.example", "is_domain": True} for i in range(SUPPRESSED_DOMAINS)])
    db.session.execute(SUPPRESS, rows)
    db.session.commit()
    db.session.execute(text("ANALYZE suppressions"))  # as autovacuum would have by now
    db.session.commit()


def main() -> None:
    """Seed, then time materialise."""
    app, subscribers = seeded_app("materialise")
    with app.app_context():
        add_suppressions()
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
            "recipients": recipients, "seconds": round(seconds, 2),
            "samples": [round(sample, 2) for sample in samples], "rows_per_s": round(recipients / seconds),
            "target_seconds": 5,
        }))


if __name__ == "__main__":
    main()
