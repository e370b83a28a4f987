"""Benchmark: send-time optimisation's slot for every one of 1,000,000 recipients.

Seeds as bench/stats.py does (1,000,000 subscribers, an earlier campaign and its deliveries), then 5,000,000 open
and click events of that campaign over a week in which each reader has a habit: their i-th event is at the hour
of the day their id gives, one in four an hour later, one in five a machine's (Apple's prefetch). So most readers
have the five human opens and clicks that give them their own hour, and the rest take the heatmap's (the hourly
rollups are built from the events). Every subscriber is put on one list. Then two campaigns to it fix their
audience as starting them does (``mailer.queries.materialise``, timed with its commit): a plain one, and a
send-time-optimised one with a sending window of 08:00–22:00, whose every delivery is inserted with its reader's
slot (``tracking.send_times.send_times``); the difference is what the slots cost. The clock is moved to the day
after the seeded week, so the events are recent.
Prints one JSON line, last: {"benchmark","database","recipients","seconds" (the optimised campaign's),
"plain_seconds","slots_seconds" (the difference),"slots" (deliveries per local hour),"target_s"}.
Run: .venv/bin/python -m bench.send_time [--recipients 1000000] [--events 5000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from app import create_app
from bench import scratch_folder
from bench.stats import T0, seed
from core import clock
from core.db import db
from core.embedded import private_redis
from lists.models import ListOptin, MailingList
from mailer.models import Campaign, Delivery
from mailer.queries import materialise
from tests.resources import fresh_postgres
from tracking.rollups import rebuild
from tracking.send_times import send_times

TARGET_SECONDS = 10
EVENTS = """
INSERT INTO tracking_events (stream_id, campaign_id, delivery_id, kind, at, head, prefetch, human, rule)
SELECT 'sto-' || n, :campaign, :first + n % :deliveries, CASE WHEN n % 7 = 0 THEN 'click' ELSE 'open' END,
       {at}, {false}, {false}, {human}, CASE WHEN n % 5 = 0 THEN 'apple_mpp' ELSE 'person' END
FROM {rows}
"""
MEMBERS = text("INSERT INTO subscriptions (subscriber_id, list_id, status, meta, created_at, updated_at) "
               "SELECT id, :list, 'confirmed', '{}', created_at, created_at FROM subscribers")


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
            members = MailingList(name="bench", optin=ListOptin.SINGLE)
            db.session.add(members)
            db.session.commit()
            db.session.execute(MEMBERS, {"list": members.id})
            db.session.commit()
            if db.engine.dialect.name == "postgresql":  # as autovacuum would have by now
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM ANALYZE"))
            seconds = {}
            for optimised in (False, True):
                campaign = Campaign(name="bench", subject="bench", lists=[members.id], tags=[], headers=[],
                                    send_time_optimised=optimised, quiet_start="22:00", quiet_end="08:00")
                db.session.add(campaign)
                db.session.commit()
                started = time.perf_counter()
                materialise(campaign.id, [members.id], send_times=send_times(campaign) if optimised else None)
                db.session.commit()
                seconds[optimised] = time.perf_counter() - started
            zone = ZoneInfo(app.config["KAIRAN"].timezone)
            slots: Counter[str] = Counter()
            for at, count in db.session.execute(select(Delivery.retry_at, func.count()).where(
                    Delivery.campaign_id == campaign.id).group_by(Delivery.retry_at)):
                slots[f"{at.astimezone(zone):%H}:00" if at and at > clock.now() else "now"] += count
            result = {"benchmark": "send_time", "database": db.engine.dialect.name, "recipients": args.recipients,
                      "events": args.events, "seconds": round(seconds[True], 2),
                      "plain_seconds": round(seconds[False], 2),
                      "slots_seconds": round(seconds[True] - seconds[False], 2),  # what the readers' slots add
                      "slots": dict(sorted(slots.items())),
                      "target_s": TARGET_SECONDS}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
