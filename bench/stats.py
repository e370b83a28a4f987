"""Benchmark: one campaign's report at 1,000,000 deliveries and 3,000,000 open and click events.

Seeds a new data folder with set-based SQL: subscribers over a handful of receiving domains (gmail.com,
docomo.ne.jp, icloud.com …), one finished campaign with 20 links, its deliveries (mostly sent, some
failed or still queued, a share opened, clicked or unsubscribed), the events (people's and machines'
opens and clicks over a week) and 2 % of deliveries bounced (hard, soft, sender refusals, complaints).
The rollups the report reads are then built from those rows by ``tracking.rollups.rebuild``, the
function ``flask tracking reclassify`` rebuilds them with, and the finished campaign's deliveries
counted by ``mailer.queries.settle``, as finishing a campaign counts them (timed as rebuild_seconds).
Every 50th reader bought after a click (the conversions table, as attribution fills it).
Then it times ``campaign_report()`` (conversions and revenue with the rest): cold (computed from the database: the
cache emptied each time)
and warm (from the Redis cache), each the median of several runs, plus ``campaign_metrics()`` cold.
Prints one JSON line, last: {"deliveries","events","report_ms","report_cold_ms","metrics_cold_ms",
"report_unsettled_cold_ms" (deliveries counted as while the campaign runs: the states but the largest from
their index, the largest from the audience per domain, which the send reconciler counts once;
"report_unsettled_first_ms" is a report before it has, which counts every state from the index),
"conversions_cold_ms" (the report's conversions and revenue alone, from the database), "heatmap_ms" (the campaign's
open-time heatmap, tracking/send_times.py: from the hourly rollup, as every heatmap),…}
Run: .venv/bin/python -m bench.stats [--deliveries 1000000] [--events 3000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import delete, text

from app import create_app
from bench import scratch_folder
from core.db import db
from core.embedded import private_redis
from core.queues import redis
from mailer.models import Campaign, DeliveryCount
from mailer.queries import settle
from tests.resources import fresh_postgres
from tracking.metric_queries import conversion_counts
from tracking.metrics import build_report, campaign_report, metrics_of
from tracking.metrics_cache import PREFIX
from tracking.models import CampaignAudience
from tracking.rollups import rebuild
from tracking.send_times import heatmap
from tracking.tallies import count_audiences

REPEATS = 3  # a cold report of a million deliveries takes seconds on SQLite
T0 = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
DOMAINS = ["gmail.com", "docomo.ne.jp", "icloud.com", "yahoo.co.jp", "ezweb.ne.jp", "outlook.jp", "softbank.ne.jp",
           "example.co.jp"]
CLIENTS = [("Gmail", "Other"), ("Apple Mail", "iPhone"), ("Chrome", "Mac"), ("Outlook", "Windows"),
           ("Safari", "iPad"), ("Thunderbird", "Linux")]

# ``n`` numbers the rows; :: marks what differs between the databases (a row source and time arithmetic).
SUBSCRIBERS = """
INSERT INTO subscribers (uuid, email, email_key, name, attribs, status, created_at, updated_at)
SELECT {uuid}, 'user' || n || '@' || {domain}, 'user' || n || '@' || {domain}, '会員' || n, '{{}}', 'enabled',
       {t0}, {t0} FROM {rows}
"""
DELIVERIES = """
INSERT INTO deliveries (campaign_id, subscriber_id, domain, status, attempts, sent_at, created_at, first_open_at,
                        first_click_at, unsubscribed_at)
SELECT :campaign, id, {email_domain},
       CASE WHEN id % 100 < 97 THEN 'sent' WHEN id % 100 < 99 THEN 'failed' ELSE 'queued' END, 0,
       CASE WHEN id % 100 < 97 THEN {sent} END, {t0},
       CASE WHEN id % 100 < 30 THEN {opened} END, CASE WHEN id % 100 < 5 THEN {opened} END,
       CASE WHEN id % 1000 = 7 THEN {opened} END
FROM subscribers
"""
EVENTS = """
INSERT INTO tracking_events (stream_id, campaign_id, delivery_id, link_id, kind, at, head, prefetch, client, device,
                             human, rule)
SELECT n || '-0', :campaign, :first_delivery + (n * 7919) % :deliveries,
       CASE WHEN n % 5 = 0 THEN :first_link + n % 20 END, CASE WHEN n % 5 = 0 THEN 'click' ELSE 'open' END,
       {at}, {false}, {false},
       CASE n % 6 {clients} END, CASE n % 6 {devices} END,
       {human}, CASE WHEN n % 10 < 7 THEN 'person' ELSE 'apple_mpp' END
FROM {rows}
"""
# Every 50th sent delivery bounced (id % 50 = 1, so always odd): its kind comes from which 50 it is in.
BOUNCES = """
INSERT INTO bounces (email, subscriber_id, campaign_id, delivery_id, type, sender_refused, source, status,
                     diagnostic, meta, created_at)
SELECT s.email_key, s.id, d.campaign_id, d.id,
       CASE (d.id / 50) % 4 WHEN 0 THEN 'hard' WHEN 3 THEN 'complaint' ELSE 'soft' END, {sender_refused}, 'smtp',
       '5.1.1', 'user unknown', '{{}}', {bounced}
FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.id % 50 = 1 AND d.status = 'sent'
"""
# Every 50th delivery's reader bought after clicking (2 %, 20,000 at a million): conversions as automations'
# attribution writes them, a few in dollars and a few whose amount was no number.
CONVERSIONS = """
INSERT INTO conversions (event_id, subscriber_id, campaign_id, delivery_id, run_id, via, at, amount, currency, problem)
SELECT d.id, d.subscriber_id, d.campaign_id, d.id, 0, 'click', {converted},
       CASE WHEN d.id % 1000 = 3 THEN NULL ELSE 1000 + (d.id % 50) * 100 END,
       CASE WHEN d.id % 500 = 253 THEN 'USD' ELSE 'JPY' END,
       CASE WHEN d.id % 1000 = 3 THEN 'amount_not_a_number' END
FROM deliveries d WHERE d.id % 50 = 3
"""


def _dialect_parts(sqlite: bool, count: int) -> dict[str, str]:
    """The SQL fragments that differ: a row source of ``count`` numbers, and times as each stores them."""
    def cases(index: int) -> str:
        return " ".join(f"WHEN {i} THEN '{pair[index]}'" for i, pair in enumerate(CLIENTS))
    domain = "CASE n % {k} {cases} END".format(
        k=len(DOMAINS), cases=" ".join(f"WHEN {i} THEN '{d}'" for i, d in enumerate(DOMAINS)))
    if sqlite:
        def at(seconds: str) -> str:
            return f"strftime('%Y-%m-%d %H:%M:%S', {int(T0.timestamp())} + {seconds}, 'unixepoch') || '.000000'"
        rows = f"(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {count}) SELECT n FROM c)"  # noqa: S608
        parts = {"rows": rows, "uuid": "lower(hex(randomblob(16)))", "false": "0",
                 "email_domain": "substr(email_key, length(rtrim(email_key, replace(email_key, '@', ''))) + 1)"}
    else:
        def at(seconds: str) -> str:
            return f"(TIMESTAMPTZ '{T0.isoformat()}' + make_interval(secs => {seconds}))"
        parts = {"rows": f"generate_series(1::bigint, {count}) AS n", "uuid": "md5(n::text)", "false": "false",
                 "email_domain": "reverse(split_part(reverse(email_key), '@', 1))"}
    return {**parts, "domain": domain, "t0": at("0"), "sent": at("id % 3600"), "bounced": at("3600 + d.id % 86400"),
            "opened": at("3600 + (id * 37) % 172800"), "at": at("(n * 13) % 604800"), "human": "n % 10 < 7",
            "sender_refused": "(d.id / 50) % 8 = 5", "converted": at("86400 + d.id % 86400"),
            "clients": cases(0), "devices": cases(1)}


def seed(deliveries: int, events: int, conversions: bool = True) -> int:
    """Migrate, then fill the tables as above (``conversions``: with them); return the campaign's id."""
    upgrade()
    sqlite = db.engine.dialect.name == "sqlite"
    run = db.session.execute
    run(text(SUBSCRIBERS.format(**_dialect_parts(sqlite, deliveries))))
    campaign = run(text("INSERT INTO campaigns (uuid, name, subject, from_email, preheader, status, content_type, "
                        "body, lists, tags, headers, language, charset, archive, started_at, to_send, created_at, "
                        "updated_at) VALUES ('bench', 'bench', 'bench', '', '', 'finished', 'html', '', '[]', '[]', "
                        "'[]', 'ja', 'utf-8', false, :t0, :n, :t0, :t0) RETURNING id"),
                   {"t0": T0, "n": deliveries}).scalar_one()
    for i in range(20):
        run(text("INSERT INTO links (campaign_id, url, created_at) VALUES (:c, :u, :t0)"),
            {"c": campaign, "u": f"https://shop.example.jp/item/{i}", "t0": T0})
    run(text(DELIVERIES.format(**_dialect_parts(sqlite, deliveries))), {"campaign": campaign})
    first_delivery = run(text("SELECT min(id) FROM deliveries")).scalar_one()
    first_link = run(text("SELECT min(id) FROM links")).scalar_one()
    run(text(EVENTS.format(**_dialect_parts(sqlite, events))),
        {"campaign": campaign, "first_delivery": first_delivery, "deliveries": deliveries, "first_link": first_link})
    run(text(BOUNCES.format(**_dialect_parts(sqlite, deliveries))))
    if conversions:
        run(text(CONVERSIONS.format(**_dialect_parts(sqlite, deliveries))))
    db.session.commit()
    if not sqlite:  # the steady state autovacuum keeps (statistics, visibility map), as bench/audience.py
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    return int(campaign)


def median_ms(run: Callable[[], Any], before: Callable[[], Any] = lambda: None, repeats: int = REPEATS) -> float:
    """Median milliseconds of ``repeats`` runs, ``before`` run (untimed) ahead of each."""
    samples = []
    for _ in range(repeats):
        before()
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def unsettled_ms(campaign_id: int, forget: Callable[[], Any]) -> tuple[float, float]:
    """Cold reports counting deliveries as a running campaign's are (no settled counts): the first one, before
    the send reconciler has counted the audience per receiving domain (tracking/tallies.py count_audiences),
    and the median of those after it has."""
    db.session.execute(delete(DeliveryCount).where(DeliveryCount.campaign_id == campaign_id))
    db.session.execute(delete(CampaignAudience).where(CampaignAudience.campaign_id == campaign_id))
    db.session.commit()
    first = median_ms(lambda: campaign_report(campaign_id), forget, repeats=1)
    count_audiences()
    return first, median_ms(lambda: campaign_report(campaign_id), forget)


def main() -> None:
    """Seed, then time the report cold and warm."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = scratch_folder("stats")
    with private_redis(folder / "redis") as redis_url:
        database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
        app = create_app({"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database,
                          "KAIRAN_REDIS_URL": redis_url})
        with app.app_context():
            started = time.perf_counter()
            campaign_id = seed(args.deliveries, args.events)
            seed_seconds = time.perf_counter() - started
            started = time.perf_counter()
            rebuild([campaign_id])  # the rollups, as ``flask tracking reclassify`` builds them from the rows
            settle(campaign_id)  # the finished campaign's deliveries counted, as finishing counts them
            db.session.commit()
            rebuild_seconds = time.perf_counter() - started
            campaign = db.session.get_one(Campaign, campaign_id)

            def forget() -> None:  # every cached figure: the next report is computed from the database
                redis().delete(*redis().keys(f"{PREFIX}*") or ["-"])

            started = time.perf_counter()
            report = build_report(campaign)
            first_ms = round((time.perf_counter() - started) * 1000, 1)
            result = {
                "benchmark": "stats", "database": db.engine.dialect.name, "deliveries": args.deliveries,
                "events": args.events, "seed_seconds": round(seed_seconds, 1),
                "rebuild_seconds": round(rebuild_seconds, 1),
                "report_first_ms": first_ms,
                "report_cold_ms": median_ms(lambda: campaign_report(campaign_id), forget),
                "report_ms": median_ms(lambda: campaign_report(campaign_id)),
                "metrics_cold_ms": median_ms(lambda: metrics_of([campaign_id])),
                "conversions_cold_ms": median_ms(lambda: conversion_counts([campaign_id])),
                **dict(zip(("report_unsettled_first_ms", "report_unsettled_cold_ms"),
                           unsettled_ms(campaign_id, forget), strict=True)),
                "unique_opens": report.metrics.unique_opens, "open_rate": report.metrics.open_rate,
                "conversions": report.metrics.conversions, "revenue": report.metrics.revenue,
                "timeline_buckets": len(report.timeline),
                "heatmap_ms": median_ms(lambda: heatmap(campaign_id)), "heatmap_opens": heatmap(campaign_id).total,
                "target_ms": 300,
            }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
