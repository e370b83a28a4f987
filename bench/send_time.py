"""Benchmark: send-time optimisation's slot for every one of 1,000,000 recipients.

Seeds as bench/stats.py does (1,000,000 subscribers, an earlier campaign's deliveries and its open and click
events, people's and machines', over a week; its hourly rollups, which the heatmap reads), with 5,000,000 events
by default so that many readers have the five opens and clicks of their own that give them their own hour. Then a
new send-time-optimised campaign with a sending window of 08:00–22:00 gets one queued delivery per subscriber, and
``tracking.send_times.optimise_send_times`` sets every delivery's slot, as starting the campaign does (timed with
its commit). The clock is moved to the day after the seeded week, so the events are recent.
Prints one JSON line, last: {"benchmark","database","recipients","seconds","own_hours","target_s"}.
Run: .venv/bin/python -m bench.send_time [--recipients 1000000] [--events 5000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta

from sqlalchemy import func, select, text

from app import create_app
from bench import scratch_folder
from bench.stats import T0, seed
from core import clock
from core.db import db
from core.embedded import private_redis
from mailer.models import Campaign, Delivery
from tests.resources import fresh_postgres
from tracking.rollups import rebuild
from tracking.send_times import optimise_send_times

TARGET_SECONDS = 10
AUDIENCE = text("INSERT INTO deliveries (campaign_id, subscriber_id, domain, status, attempts, run_id, created_at) "
                "SELECT :campaign, id, 'example.jp', 'queued', 0, 0, :at FROM subscribers")


def main() -> None:
    """Seed, then time every recipient's slot."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = scratch_folder("send-time")
    with private_redis(folder / "redis") as redis_url:
        database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
        app = create_app({"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database,
                          "KAIRAN_REDIS_URL": redis_url, "KAIRAN_MOVABLE_CLOCK": "true"})
        with app.app_context():
            earlier = seed(args.recipients, args.events)
            rebuild([earlier])
            clock.move(redis_url, T0 + timedelta(days=8) - clock.now())  # the seeded week was last week
            campaign = Campaign(name="bench", subject="bench", lists=[], tags=[], headers=[], send_time_optimised=True,
                                quiet_start="22:00", quiet_end="08:00")
            db.session.add(campaign)
            db.session.commit()
            db.session.execute(AUDIENCE, {"campaign": campaign.id, "at": clock.now()})
            db.session.commit()
            if db.engine.dialect.name == "postgresql":  # as autovacuum would have by now
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM ANALYZE deliveries"))
            started = time.perf_counter()
            own = optimise_send_times(campaign_id=campaign.id)
            db.session.commit()
            seconds = time.perf_counter() - started
            slotted = db.session.scalar(select(func.count()).where(Delivery.campaign_id == campaign.id,
                                                                   Delivery.retry_at.is_not(None)))
            result = {"benchmark": "send_time", "database": db.engine.dialect.name, "recipients": args.recipients,
                      "events": args.events, "seconds": round(seconds, 2), "own_hours": own,
                      "held_for_a_slot": slotted, "target_s": TARGET_SECONDS}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
