"""Benchmark: a resend to non-openers of a 1,000,000-recipient campaign, its audience fixed in one INSERT … SELECT.

Seeds as bench/audience.py does (subscribers spread over 5 lists), materialises the original to all of them, marks
it sent, and gives it what a sent campaign has: 20 % of its deliveries opened or clicked by a person, 10 % opened
only by a machine (Apple's prefetch: one event each), 1 % bounced. Then, in the same run, times:
- the form's counts (mailer/resends.py ``resend_audience``: two counts);
- materialising the resend without and with those only machines opened (the same INSERT … SELECT as every
  campaign, narrowed by tracking's "missed" rule);
- materialising a plain campaign to the same lists, for the ratio.
Prints one JSON line, last. Run: .venv/bin/python -m bench.resend [--subscribers 1000000] [--database-url URL]
"""

from __future__ import annotations

import json
import time

from sqlalchemy import text

from bench.audience import LISTS, seeded_app
from core.db import db
from mailer.models import Campaign, CampaignStatus
from mailer.queries import materialise
from mailer.resends import resend_audience
from mailer.starting import missed_rule

# Who did what, by delivery id (ids are dense from 1): a person opened every fifth, a machine every tenth of the
# others (ids ending in 1), one in a hundred bounced (ids ending in 03).
BEHAVE = (
    "UPDATE deliveries SET status = 'sent', sent_at = '2026-01-01', "
    "first_open_at = CASE WHEN id % 5 = 0 THEN CAST('2026-01-01 01:00:00' AS TIMESTAMP) END "
    "WHERE campaign_id = :campaign",
    "INSERT INTO tracking_events (stream_id, campaign_id, delivery_id, kind, at, head, prefetch, human, rule) "
    "SELECT 'b-' || id, campaign_id, id, 'open', '2026-01-01 00:05:00', false, false, false, 'apple_mpp' "
    "FROM deliveries WHERE campaign_id = :campaign AND id % 10 = 1",
    "INSERT INTO bounces (email, campaign_id, delivery_id, type, sender_refused, source, status, diagnostic, meta, "
    "created_at) SELECT 'user' || subscriber_id || '@example.jp', campaign_id, id, 'soft', false, 'bench', '4.2.2', "
    "'', '{}', '2026-01-01' FROM deliveries WHERE campaign_id = :campaign AND id % 100 = 3",
)


def _campaign(name: str, lists: list[int], **fields: object) -> Campaign:
    campaign = Campaign(name=name, subject=name, lists=lists, **fields)
    db.session.add(campaign)
    db.session.commit()
    return campaign


def _timed_materialise(campaign: Campaign, lists: list[int], rules: object = None) -> tuple[int, float]:
    started = time.perf_counter()
    rows = materialise(campaign.id, lists, rules)
    db.session.commit()
    return rows, time.perf_counter() - started


def main() -> None:
    """Seed, send the original on paper, then time the counts and the three materialisations."""
    app, subscribers = seeded_app("resend")
    with app.app_context():
        lists = list(range(1, LISTS + 1))
        original = _campaign("original", lists)
        materialise(original.id, lists)
        for statement in BEHAVE:
            db.session.execute(text(statement), {"campaign": original.id})
        original.status = CampaignStatus.FINISHED
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        started = time.perf_counter()
        audience = resend_audience(original)
        count_seconds = time.perf_counter() - started
        people, people_seconds = _timed_materialise(_campaign("resend", lists), lists, missed_rule(original.id, False))
        everyone, everyone_seconds = _timed_materialise(_campaign("resend+machines", lists), lists,
                                                        missed_rule(original.id, True))
        plain, plain_seconds = _timed_materialise(_campaign("plain", lists), lists)
        print(json.dumps({
            "benchmark": "resend", "database": db.engine.dialect.name, "subscribers": subscribers,
            "non_openers": audience.non_openers, "machine_openers": audience.machine_openers,
            "count_seconds": round(count_seconds, 2),
            "resend_rows": people, "resend_seconds": round(people_seconds, 2),
            "resend_with_machines_rows": everyone, "resend_with_machines_seconds": round(everyone_seconds, 2),
            "plain_rows": plain, "plain_seconds": round(plain_seconds, 2),
            "resend_to_plain_ratio": round(people_seconds / plain_seconds, 2),
        }))


if __name__ == "__main__":
    main()
