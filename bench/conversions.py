"""Benchmark: attributing purchases to the last click by a person, at 1,000,000 deliveries and 3,000,000 events.

Seeds what bench/stats.py seeds (its ``seed``: subscribers, a campaign's deliveries, people's and machines' opens
and clicks over a week) but its conversions, then one purchase event for every ``--every``-th subscriber,
stored days after the clicks. Times ``automations.conversions.attribute()`` over all of them: the job a worker runs,
chunk by chunk, each chunk one query for every event's last click, one for the deliveries, one insert.
Prints one JSON line, last: {"purchases","attributed","attribute_seconds","events_per_second",…}.
Run: .venv/bin/python -m bench.conversions [--deliveries 1000000] [--events 3000000] [--every 10]
     [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import time

from sqlalchemy import text

from app import create_app
from automations.conversions import attribute
from bench import scratch_folder
from bench.stats import T0, seed
from core.db import db
from core.embedded import private_redis
from tests.resources import fresh_postgres

# Purchases 2 to 3 days after the send: most buyers' clicks (spread over the week) fall inside the 7-day window.
# Buyers are subscribers 1, 1 + every, …: stats' clicks go to deliveries 1, 6, 11, … (a delivery's id is its
# subscriber's on PostgreSQL), so each buyer's last click is looked for among clicks that are there.
PURCHASES = """
INSERT INTO events (subscriber_id, name, properties, occurred_at, received_at, idempotency_key, source)
SELECT id, 'purchase', '{{"amount": 1980, "order_id": "A-1"}}', {occurred}, {occurred}, NULL, 'api'
FROM subscribers WHERE id % :every = 1
"""


def _occurred(sqlite: bool) -> str:
    """Each purchase's time, as each database stores it."""
    if sqlite:
        return (f"strftime('%Y-%m-%d %H:%M:%S', {int(T0.timestamp())} + 172800 + (id * 37) % 86400, 'unixepoch')"
                " || '.000000'")
    return f"(TIMESTAMPTZ '{T0.isoformat()}' + make_interval(secs => 172800 + (id * 37) % 86400))"


def main() -> None:
    """Seed, store the purchases, then time their attribution."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = scratch_folder("conversions")
    with private_redis(folder / "redis") as redis_url:
        database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
        app = create_app({"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database,
                          "KAIRAN_REDIS_URL": redis_url})
        with app.app_context():
            seed(args.deliveries, args.events, conversions=False)
            sqlite = db.engine.dialect.name == "sqlite"
            purchases = db.session.execute(text(PURCHASES.format(occurred=_occurred(sqlite))),
                                           {"every": args.every}).rowcount  # type: ignore[attr-defined]
            db.session.commit()
            if not sqlite:
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("ANALYZE events"))
            started = time.perf_counter()
            attributed = attribute()
            seconds = time.perf_counter() - started
            result = {"benchmark": "conversions", "database": db.engine.dialect.name, "deliveries": args.deliveries,
                      "events": args.events, "purchases": purchases, "attributed": attributed,
                      "attribute_seconds": round(seconds, 2), "events_per_second": round(purchases / seconds)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
