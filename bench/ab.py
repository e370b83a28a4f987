"""Benchmark: an A/B test's winner chosen, and the held 80 % of a 1,000,000-recipient audience materialised with it.

Seeds as bench/audience.py does (subscribers spread over 5 lists), starts a campaign to all of them with a
two-variant test on 20 %: materialise fixes the whole audience in one INSERT … SELECT, the test phase with its
variants by the keyed hash and the rest held for the winner (timed: start_seconds, a plain start's cost). It then
makes the test phase look sent and read: every test delivery sent, people's opens and clicks set (B ahead on
clicks), and 50,000 machines' opens stored as events. Then it times what the reconciler does when the wait is
over: the variants' figures (people's, machines' apart), the winner, its claim, and the rest released, committed.
The campaign is paused, so its batches are not queued (no Redis here: queueing is the same as any start's). For
scale on a busy machine, the same run then times a plain materialise of the whole audience. Prints one JSON line,
last.
Run: .venv/bin/python -m bench.ab [--subscribers 1000000] [--database-url URL]
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from sqlalchemy import text

from bench.audience import LISTS, seeded_app
from core.db import db, utcnow
from mailer import ab, queries
from mailer.models import ABTest, Campaign, CampaignStatus, Variant, WinnerMeasure
from mailer.starting import send_winner
from tracking.ab_results import figures, ranked

TEST_SHARE = 20
MACHINE_OPENS = 50_000
READ = text("UPDATE deliveries SET status = 'sent', sent_at = :at, "
            "first_open_at = CASE WHEN id % 4 = 0 THEN :at END, "
            "first_click_at = CASE WHEN id % (CASE WHEN variant = 2 THEN 20 ELSE 40 END) = 0 THEN :at END "
            "WHERE campaign_id = :campaign AND variant > 0")
MACHINES = text("INSERT INTO tracking_events (stream_id, campaign_id, delivery_id, kind, at, head, prefetch, human, "
                "rule) SELECT 'bench-' || id, campaign_id, id, 'open', :at, false, false, false, 'apple_mpp' "
                "FROM deliveries WHERE campaign_id = :campaign AND first_open_at IS NULL AND variant = 1 "
                "ORDER BY id LIMIT :count")


def main() -> None:
    """Seed, run the test phase, then time the winner and the rest."""
    app, subscribers = seeded_app("ab")
    with app.app_context():
        lists = list(range(1, LISTS + 1))
        campaign = Campaign(name="bench A/B", subject="A", lists=lists)
        db.session.add(campaign)
        db.session.flush()
        test = ABTest(campaign_id=campaign.id, test_share=TEST_SHARE, wait_hours=4, measure=WinnerMeasure.CLICKS,
                      key_a=987_654_321, key_b=123_456_789,
                      variants=[Variant(position=1), Variant(position=2, subject="B")])
        db.session.add(test)
        db.session.flush()
        started = time.perf_counter()
        campaign.to_send = queries.materialise(campaign.id, lists, split=ab.split_of(test))
        db.session.commit()
        start_seconds = time.perf_counter() - started
        now = utcnow()
        campaign.started_at, campaign.status, test.decide_at = now, CampaignStatus.PAUSED, now - timedelta(seconds=1)
        db.session.execute(READ, {"at": now, "campaign": campaign.id})
        db.session.execute(MACHINES, {"at": now, "campaign": campaign.id, "count": MACHINE_OPENS})
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE deliveries"))
        else:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        test_phase = campaign.to_send - queries.count_rest(campaign.id)

        started = time.perf_counter()
        variants, _rest = figures(test)
        winner = ranked(variants, test.measure)[0]
        remainder = send_winner(campaign, winner.position, "auto")
        seconds = time.perf_counter() - started
        # The same run's plain materialise of the whole audience into a new campaign (bench.materialise's operation,
        # whose target is 5 s too): a loaded machine slows both alike.
        plain = Campaign(name="bench plain", subject="A", lists=lists)
        db.session.add(plain)
        db.session.flush()
        started = time.perf_counter()
        queries.materialise(plain.id, lists)
        db.session.commit()
        plain_seconds = time.perf_counter() - started
        print(json.dumps({
            "benchmark": "ab", "database": db.engine.dialect.name, "recipients": campaign.to_send,
            "subscribers": subscribers, "test_share": TEST_SHARE, "test_phase": test_phase, "winner": winner.label,
            "winner_seconds": round(seconds, 2), "remainder": remainder, "target_s": 5,
            "start_seconds": round(start_seconds, 2),
            "plain_materialise_seconds": round(plain_seconds, 2),
        }))


if __name__ == "__main__":
    main()
