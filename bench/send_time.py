"""Benchmark: send-time optimisation's slot for every one of 1,000,000 recipients.

Seeds as bench/stats.py does (1,000,000 subscribers, an earlier campaign and its deliveries), then 5,000,000 open
and click events of that campaign over a week in which each reader has a habit: their i-th event is at the hour
of the day their id gives, one in four an hour later, one in five a machine's (Apple's prefetch). So most readers
have the five human opens and clicks that give them their own hour, and the rest take the heatmap's (the hourly
rollups are built from the events). Then a new send-time-optimised campaign with a sending window of 08:00–22:00
gets one queued delivery per subscriber, and ``tracking.send_times.optimise_send_times`` sets every delivery's
slot, as starting the campaign does (timed with its commit). The clock is moved to the day after the seeded
week, so the events are recent.
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
EVENTS = """
INSERT INTO tracking_events (stream_id, campaign_id, delivery_id, kind, at, head, prefetch, human, rule)
SELECT 'sto-' || n, :campaign, :first + n % :deliveries, CASE WHEN n % 7 = 0 THEN 'click' ELSE 'open' END,
       {at}, {false}, {false}, {human}, CASE WHEN n % 5 = 0 THEN 'apple_mpp' ELSE 'person' END
FROM {rows}
"""
AUDIENCE = text("INSERT INTO deliveries (campaign_id, subscriber_id, domain, status, attempts, run_id, created_at) "
                "SELECT :campaign, id, 'example.jp', 'queued', 0, 0, :at FROM subscribers")


def habits(campaign_id: int, deliveries: int, events: int) -> None:
    """Each reader's events: day (n / deliveries) of the week, at the hour their delivery's position gives."""
    sqlite = db.engine.dialect.name == "sqlite"
    hour = "(((n % :deliveries) % 24) + CASE WHEN n % 4 = 0 THEN 1 ELSE 0 END)"
    seconds = f"((n / :deliveries) % 7) * 86400 + {hour} * 3600 + n % 3000"
    if sqlite:
        at = f"strftime('%Y-%m-%d %H:%M:%S', {int(T0.timestamp())} + {seconds}, 'unixepoch') || '.000000'"
        rows = f"(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {events}) SELECT n FROM c)"  # noqa: S608
    else:
        at = f"(TIMESTAMPTZ '{T0.isoformat()}' + make_interval(secs => {seconds}))"
        rows = f"generate_series(1::bigint, {events}) AS n"
    first = db.session.scalar(select(func.min(Delivery.id)).where(Delivery.campaign_id == campaign_id))
    db.session.execute(text(EVENTS.format(at=at, rows=rows, false="0" if sqlite else "false", human="n % 5 <> 0")),
                       {"campaign": campaign_id, "first": first, "deliveries": deliveries})
    db.session.commit()


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
            earlier = seed(args.recipients, 1)
            habits(earlier, args.recipients, args.events)
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
