"""Benchmark: the marketer's home (GET /) with 1,000,000 subscribers and 100 campaigns.

Seeds a new data folder with set-based SQL: subscribers who joined over two years (about 41,000 in the chart's 30
days), five lists (each subscriber on one, every third on a second: 1,333,333 subscriptions, one in 25
unsubscribed), a consent record per subscription (the unsubscribes' over the last 60 days), 100 finished campaigns
with their rollups as sending and the flusher leave them (delivery counts, audience, opened and clicked totals), and
five live automations with their step counts. An admin then loads the home through the Flask test client, as a
browser would, signed in: the setup checklist, subscribers over time, list sizes, the recent campaigns' rates and
the automations' conversions.
Times the page as people get it (``ms``: the audience figures as the periodic job, lists/growth.py ``refresh``, keeps
them in Redis every minute; the campaigns' figures from their cache), the job itself (``refresh_ms``, off any
request), and the page with nothing kept (``cold_ms``: everything counted from the database during the load, as
only before any worker ran), each the median of several.
Prints one JSON line, last: {"benchmark","database","subscribers","subscriptions","campaigns","ms","refresh_ms",
"cold_ms","target_ms"}.
Run: .venv/bin/python -m bench.dashboard [--subscribers 1000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import timedelta

from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from bench import scratch_folder
from bench.stats import median_ms
from core.db import db, utcnow
from core.embedded import private_redis
from core.queues import redis
from core.users import create_user
from lists import growth
from lists.growth import CACHE_KEY
from tests.resources import fresh_postgres
from tracking.metrics_cache import PREFIX

TARGET_MS = 300
CAMPAIGNS = 100
LISTS = 5
REPEATS = 7
PASSWORD = "bench-password-1234"  # noqa: S105 - the benchmark's own throwaway admin
TWO_YEARS = 730 * 86400

SUBSCRIBERS = """
INSERT INTO subscribers (uuid, email, email_key, name, attribs, status, created_at, updated_at)
SELECT {uuid}, 'user' || n || '@example.jp', 'user' || n || '@example.jp', '会員' || n, '{{}}', 'enabled',
       {joined}, {joined} FROM {rows}
"""
# Each subscriber on list (id % 5) + 1, every third also on ((id + 2) % 5) + 1; one in 25 unsubscribed from them.
SUBSCRIPTIONS = """
INSERT INTO subscriptions (subscriber_id, list_id, status, meta, created_at, updated_at)
SELECT id, :first_list + {which}, CASE WHEN id % 25 = 0 THEN 'unsubscribed' ELSE 'confirmed' END, '{{}}',
       created_at, created_at FROM subscribers {where}
"""
CONSENTS = """
INSERT INTO consent_records (subscriber_id, list_id, created_at, method, status, evidence)
SELECT subscriber_id, list_id, CASE WHEN status = 'unsubscribed' THEN {left} ELSE created_at END, 'import', status, ''
FROM subscriptions
"""


def _parts(sqlite: bool, count: int, now: float) -> dict[str, str]:
    """The SQL that differs between the databases: a row source, and times counted back from now."""
    if sqlite:
        def ago(seconds: str) -> str:
            return f"strftime('%Y-%m-%d %H:%M:%S', {int(now)} - ({seconds}), 'unixepoch') || '.000000'"
        rows = f"(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {count}) SELECT n FROM c)"  # noqa: S608
        parts = {"rows": rows, "uuid": "lower(hex(randomblob(16)))"}
    else:
        def ago(seconds: str) -> str:
            return f"(to_timestamp({int(now)}) - make_interval(secs => {seconds}))"
        parts = {"rows": f"generate_series(1::bigint, {count}) AS n", "uuid": "md5(n::text)"}
    return {**parts, "joined": ago(f"(n * 7919) % {TWO_YEARS}"), "left": ago("(subscriber_id * 613) % 5184000")}


def seed(subscribers: int) -> tuple[int, int]:
    """Migrate and fill the tables; return (subscribers, subscriptions)."""
    upgrade()
    sqlite = db.engine.dialect.name == "sqlite"
    parts = _parts(sqlite, subscribers, utcnow().timestamp())
    run = db.session.execute
    now = utcnow()
    run(text(SUBSCRIBERS.format(**parts)))
    for i in range(LISTS):
        run(text("INSERT INTO lists (uuid, name, type, optin, status, tags, description, created_at, updated_at) "
                 "VALUES (:uuid, :name, 'private', 'single', 'active', '[]', '', :now, :now)"),
            {"uuid": f"bench-list-{i}", "name": f"リスト{i + 1}", "now": now})
    first_list = run(text("SELECT min(id) FROM lists")).scalar_one()
    run(text(SUBSCRIPTIONS.format(which="id % 5", where="")), {"first_list": first_list})
    run(text(SUBSCRIPTIONS.format(which="(id + 2) % 5", where="WHERE id % 3 = 0")), {"first_list": first_list})
    run(text(CONSENTS.format(**parts)))
    for k in range(CAMPAIGNS):
        started = now.replace(microsecond=0) - timedelta(days=CAMPAIGNS - k)
        campaign = run(text(
            "INSERT INTO campaigns (uuid, name, subject, from_email, preheader, status, content_type, body, lists, "
            "tags, headers, language, charset, archive, started_at, to_send, created_at, updated_at) VALUES "
            "(:uuid, :name, :name, '', '', 'finished', 'html', '', '[]', '[]', '[]', 'ja', 'utf-8', false, :at, :n, "
            ":at, :at) RETURNING id"), {"uuid": f"bench-{k}", "name": f"{k + 1}号", "at": started,
                                         "n": 200_000}).scalar_one()
        for status, domain, number in (("sent", "gmail.com", 120_000 + k), ("sent", "docomo.ne.jp", 76_000),
                                       ("failed", "docomo.ne.jp", 4_000 - k)):
            run(text("INSERT INTO delivery_counts (campaign_id, status, domain, deliveries) VALUES (:c, :s, :d, :n)"),
                {"c": campaign, "s": status, "d": domain, "n": number})
        for domain, number in (("gmail.com", 120_000 + k), ("docomo.ne.jp", 80_000 - k)):
            run(text("INSERT INTO campaign_audience (campaign_id, domain, deliveries) VALUES (:c, :d, :n)"),
                {"c": campaign, "d": domain, "n": number})
        run(text("INSERT INTO campaign_totals (campaign_id, opened, clicked, machine_opened, machine_clicked, "
                 "anonymous_opens, anonymous_machine_opens, anonymous_clicks, anonymous_machine_clicks) "
                 "VALUES (:c, :o, :k, :m, 0, 0, 0, 0, 0)"), {"c": campaign, "o": 60_000 + 97 * k, "k": 9_000 + k,
                                                              "m": 20_000})
    for a in range(5):
        automation = run(text(
            "INSERT INTO automations (name, status, draft, scanned_at, consent_cursor, event_cursor, created_at, "
            "updated_at) VALUES (:name, 'active', :draft, NULL, 0, 0, :now, :now) RETURNING id"),
            {"name": f"オートメーション{a + 1}", "draft": '{"start": "wait"}', "now": now}).scalar_one()
        version = run(text("INSERT INTO automation_versions (automation_id, number, definition, created_at) "
                           "VALUES (:a, 1, :d, :now) RETURNING id"),
                      {"a": automation, "d": '{"start": "wait"}', "now": now}).scalar_one()
        run(text("UPDATE automations SET version_id = :v WHERE id = :a"), {"v": version, "a": automation})
        for step, entered, converted in (("wait", 5_000 + a, 0), ("goal", 900 + a, 900 + a)):
            run(text("INSERT INTO automation_step_counts (version_id, step, entered, passed, sent, converted, exited, "
                     "failed) VALUES (:v, :s, :e, 0, 0, :c, 0, 0)"), {"v": version, "s": step, "e": entered,
                                                                       "c": converted})
    db.session.commit()
    if not sqlite:  # the steady state autovacuum keeps (statistics, visibility map), as bench/stats.py
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    subscriptions = int(db.session.execute(text("SELECT count(*) FROM subscriptions")).scalar_one())
    return subscribers, subscriptions


def main() -> None:
    """Seed, sign in, then time the home cold and warm."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = scratch_folder("dashboard")
    with private_redis(folder / "redis") as redis_url:
        database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
        app = create_app({"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database,
                          "KAIRAN_REDIS_URL": redis_url, "KAIRAN_COMPANY_NAME": "回覧商事"})
        with app.app_context():
            started = time.perf_counter()
            subscribers, subscriptions = seed(args.subscribers)
            seed_seconds = round(time.perf_counter() - started, 1)
            create_user("admin", PASSWORD, "admin")
        client = app.test_client()
        login = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login)
        assert token, "no CSRF token on /login"
        client.post("/login", data={"csrf_token": token.group(1), "username": "admin", "password": PASSWORD})

        def load() -> None:
            response = client.get("/")
            assert response.status_code == 200 and b'id="audience"' in response.data, response.status_code

        def forget() -> None:
            with app.app_context():
                client_redis = redis()
                for prefix in (PREFIX, CACHE_KEY):
                    for key in client_redis.scan_iter(f"{prefix}*"):
                        client_redis.delete(key)

        load()  # the first load also compiles the templates: not what a reader waits for
        cold = median_ms(load, forget, repeats=REPEATS)
        with app.app_context():
            counted = median_ms(growth.refresh, repeats=REPEATS)
        warm = median_ms(load, repeats=REPEATS)
        with app.app_context():
            db.engine.dispose()
    print(json.dumps({"benchmark": "dashboard", "database": "postgresql" if args.database_url else "sqlite",
                      "subscribers": subscribers, "subscriptions": subscriptions, "campaigns": CAMPAIGNS,
                      "seed_seconds": seed_seconds, "ms": warm, "refresh_ms": counted, "cold_ms": cold,
                      "target_ms": TARGET_MS}))


if __name__ == "__main__":
    main()
