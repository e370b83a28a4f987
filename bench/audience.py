"""Benchmark: the subscribers page's queries at 1,000,000 subscribers on 5 lists.

Seeds the database with set-based SQL, then times the very queries the page runs (the
page of 51 rows and its total) for: everything, a partial-email search, one list, and
page 500 by id keyset. Prints one JSON line, last, with milliseconds for each.
It also times a 3-rule segment count (an attribute, a list, a date), as the segment
editor's live count runs it.
Run: .venv/bin/python -m bench.audience [--subscribers 1000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select, text

from app import create_app
from bench import scratch_folder
from core.db import db
from lists.models import Subscriber
from lists.segment_rules import count
from lists.subscriber_views import PAGE_SIZE
from lists.subscribers import count_subscribers, subscribers_query
from tests.resources import fresh_postgres

LISTS = 5
REPEATS = 5

SEED_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO subscribers (uuid, email, email_key, name, attribs, status, created_at, updated_at)
SELECT lower(hex(randomblob(16))), 'user' || i || '@example.jp', 'user' || i || '@example.jp', '会員' || i,
       '{"city": "大阪"}', 'enabled', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000' FROM n
"""
SEED_POSTGRES = """
INSERT INTO subscribers (uuid, email, email_key, name, attribs, status, created_at, updated_at)
SELECT md5(i::text), 'user' || i || '@example.jp', 'user' || i || '@example.jp', '会員' || i,
       '{"city": "大阪"}', 'enabled', now(), now() FROM generate_series(1, :count) AS i
"""
SEED_SUBSCRIPTIONS = """
INSERT INTO subscriptions (subscriber_id, list_id, status, meta, created_at, updated_at)
SELECT id, (id % :lists) + 1, 'confirmed', '{}', created_at, created_at FROM subscribers
"""


THREE_RULES = {"match": "all", "rules": [
    {"field": "attribs.city", "op": "eq", "value": "大阪"},
    {"field": "list", "op": "member", "value": 3},
    {"field": "created_at", "op": "within_days", "value": 3650},
]}


def timed(run: Callable[[], Any]) -> float:
    """Return the median milliseconds of REPEATS runs (after one warm-up)."""
    run()
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def page_data(**filters: Any) -> Callable[[], Any]:
    """Return the subscribers page's two queries for some filters (rows of one page, and the total)."""
    before = filters.pop("before", None)

    def run() -> tuple[int, int]:
        stmt = subscribers_query(**filters)
        if before is not None:
            stmt = stmt.where(Subscriber.id < before)
        rows = db.session.scalars(stmt.limit(PAGE_SIZE + 1)).all()
        total = count_subscribers(**filters)
        return len(rows), total or 0

    return run


def seeded_app(name: str) -> tuple[Flask, int]:
    """Parse --subscribers and --database-url, and return an app on a database seeded with them and the count.

    The subscribers are spread over LISTS lists; the data folder is a new temporary one.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = scratch_folder(name)
    database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
    app = create_app({"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database,
                      "KAIRAN_REDIS_URL": "redis://127.0.0.1:1/0"})  # no Redis needed: nothing is queued
    with app.app_context():
        seed(args.subscribers)
    return app, args.subscribers


def seed(subscribers: int) -> None:
    """Migrate the app's empty database, then add LISTS lists and ``subscribers`` subscribers spread over them.

    Subscriber i is user<i>@example.jp, named 会員<i>, with the attribute city.
    """
    upgrade()
    for i in range(LISTS):
        db.session.execute(text("INSERT INTO lists (uuid, name, type, optin, status, tags, description, "
                                "created_at, updated_at) VALUES (:u, :n, 'private', 'single', 'active', '[]', "
                                "'', '2026-01-01', '2026-01-01')"), {"u": f"list-{i}", "n": f"list {i}"})
    statement = SEED_SQLITE if db.engine.dialect.name == "sqlite" else SEED_POSTGRES
    db.session.execute(text(statement), {"count": subscribers})
    db.session.execute(text(SEED_SUBSCRIPTIONS), {"lists": LISTS})
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # Measure the steady state autovacuum keeps (statistics, visibility map, hint bits),
        # not the minutes right after a bulk load.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


def main() -> None:
    """Seed, then time each page query."""
    started = time.perf_counter()
    app, subscribers = seeded_app("audience")
    seed_seconds = time.perf_counter() - started
    with app.app_context():
        newest = db.session.scalar(select(func.max(Subscriber.id))) or 0
        result = {
            "benchmark": "audience", "database": db.engine.dialect.name, "subscribers": subscribers,
            "seed_seconds": round(seed_seconds, 1),
            "page1_all_ms": timed(page_data()),
            "search_partial_email_ms": timed(page_data(search="user12345")),
            "filter_by_list_ms": timed(page_data(list_id=3)),
            "page500_all_ms": timed(page_data(before=newest - 499 * PAGE_SIZE)),
            "segment_3_rules_count_ms": timed(lambda: count(THREE_RULES)),
            "target_ms": 200,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
