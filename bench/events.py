"""Benchmark: customer events in, as a shop sends them: batches through the API, then single events under gunicorn.

Seeds --subscribers subscribers and an editor API user. Batch phase: --batches batches of 1,000 events (each with
an idempotency key, the costlier path: its unique index is checked on every insert) posted through the API in
this process (Flask's test client: the request's parsing, checks, look-ups and insert, no network), bodies made
before the clock starts; ``batch_events_per_s`` is events stored a second. Single phase: Kairan served by gunicorn
as `make up` serves it (bench.track's serve), loaded with one-event POSTs by wrk when installed (a Lua script,
each request a new key) or else by Python threads on keep-alive connections; ``single_req_per_s`` is answered
requests (200) a second, and ``single_cpu_us_per_request`` what each cost the web processes, the database's
server processes (PostgreSQL) and the load generator in CPU time (it moves less with other load than a rate does).
Then the events are counted in the database: ``lost`` is events answered as stored that
are not there. Prints one JSON line, last.
Run: .venv/bin/python -m bench.events [--batches 50] [--seconds 10] [--connections 16] [--subscribers 10000]
     [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

from app import create_app
from automations.models import Event
from bench import scratch_folder
from bench.cpu import children, own_seconds, postgres_backends, process_seconds
from bench.loader import threaded_load
from bench.track import serve
from core.db import db
from core.embedded import WEB_PROCESSES, WEB_THREADS, private_redis
from core.users import create_api_user
from lists.subscribers import subscribers_for_addresses
from tests.resources import free_port, fresh_postgres

TARGETS = {"batch_events_per_s": 20000, "single_req_per_s": 1500, "lost": 0}
BATCH = 1000
PROPERTIES = {"order_id": "", "product": "インク PX-INK-4C", "price": 2980, "quantity": 2}
WRK_SCRIPT = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "token %s"
request = function()
  counter = counter + 1
  local body = string.format('{"subscriber_id": %%d, "name": "page_view", "properties": {"path": "/ink/%%d"}, '
    .. '"idempotency_key": "wrk-%%d"}', %d + (counter %% %d), counter, counter)
  return wrk.format(nil, "/api/events", nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format("WRK {\\"requests\\": %%d, \\"errors\\": %%d, \\"non_2xx_3xx\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(99)))
end
"""


def main() -> None:
    """Seed, post batches, serve and post single events, count."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    load_average = os.getloadavg()[0]
    folder = scratch_folder("events")
    with private_redis(folder / "redis") as redis_url:
        database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
        port = free_port()
        env = {"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database, "KAIRAN_REDIS_URL": redis_url,
               "KAIRAN_SMTP_URL": "smtp://127.0.0.1:1", "KAIRAN_PORT": str(port),
               "KAIRAN_SECRET_KEY": secrets.token_hex(32)}  # one key for the app and gunicorn's, as hosts share one
        app = create_app(env)
        first_id, pair = seed(app, args.subscribers)
        batch = post_batches(app, pair, first_id, args)
        single = post_singles(app, env, port, pair=pair, first_id=first_id, args=args)
        with app.app_context():
            stored = db.session.scalar(select(func.count()).select_from(Event)) or 0
    answered = batch["stored"] + single["answered"]
    print(json.dumps({
        "benchmark": "events", "database": database.split(":")[0], "subscribers": args.subscribers,
        "batch_events": batch["stored"], "batch_seconds": batch["seconds"],
        "batch_events_per_s": round(batch["stored"] / batch["seconds"]),
        "single_load": single["generator"], "connections": args.connections, "single_requests": single["answered"],
        "single_errors": single["errors"], "single_req_per_s": round(single["answered"] / single["seconds"]),
        "single_p99_ms": single["p99_ms"], "single_cpu_us_per_request": single["cpu_us"],
        "events_in_database": stored, "lost": max(answered - stored, 0),
        "gunicorn": f"{WEB_PROCESSES} workers, gthread, {WEB_THREADS} threads", "load_avg_1m": load_average,
        "targets": TARGETS,
    }))


def seed(app: Flask, count: int) -> tuple[int, str]:
    """Migrate, add ``count`` subscribers and an editor API user; return the first subscriber's id and the token."""
    with app.app_context():
        upgrade()
        ids = subscribers_for_addresses([f"customer{n}@example.jp" for n in range(count)], create=True)
        db.session.commit()
        user, token = create_api_user("shop", "editor")
        return min(ids.values()), f"{user.username}:{token}"


def post_batches(app: Flask, pair: str, first_id: int, args: argparse.Namespace) -> dict[str, float]:
    """Post the batches through the test client; return events stored and seconds."""
    bodies = [orjson.dumps({"events": [
        {"subscriber_id": first_id + (number * BATCH + n) % args.subscribers, "name": "purchase",
         "properties": {**PROPERTIES, "order_id": f"{number}-{n}"}, "occurred_at": "2026-05-01T09:30:00+09:00",
         "idempotency_key": f"order-{number}-{n}"} for n in range(BATCH)]}) for number in range(args.batches)]
    client = app.test_client()
    headers = {"Authorization": f"token {pair}", "Content-Type": "application/json"}
    stored = 0
    started = time.perf_counter()
    for body in bodies:
        response = client.post("/api/events", data=body, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        stored += len(response.get_json()["data"]["stored"])
    return {"stored": stored, "seconds": round(time.perf_counter() - started, 3)}


def post_singles(app: Flask, env: dict[str, str], port: int, *, pair: str, first_id: int,
                 args: argparse.Namespace) -> dict:
    """Serve with gunicorn and load it with one-event POSTs; return what the load generator measured, and the CPU
    time each answered request cost the web processes, the database's server processes serving them (PostgreSQL)
    and the load generator, in µs: unlike req/s, it hardly moves with the machine's other load."""
    serving_since = datetime.now(UTC)
    server = serve(env, port)
    try:
        web = children(server.pid)
        web_before, loader_before = sum(process_seconds(web).values()), own_seconds()
        load = wrk_load(port, pair, first_id, args) if shutil.which("wrk") else python_load(port, pair, first_id, args)
        used = {"web": sum(process_seconds(web).values()) - web_before, "loader": own_seconds() - loader_before}
        with app.app_context():
            if db.engine.dialect.name == "postgresql":  # their whole lives: they connected for this load
                used["database"] = sum(process_seconds(postgres_backends(since=serving_since)).values())
    finally:
        server.terminate()
        server.wait(15)
    return {**load, "cpu_us": {name: round(seconds / max(load["answered"], 1) * 1e6) for name, seconds in used.items()}}


def wrk_load(port: int, pair: str, first_id: int, args: argparse.Namespace) -> dict:
    """One wrk thread (the two cores also run gunicorn and the database)."""
    script = Path(scratch_folder("wrk")) / "events.lua"
    script.write_text(WRK_SCRIPT % (pair, first_id, args.subscribers))
    seconds = max(1, round(args.seconds))
    output = subprocess.run(["wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "5s",
                             "-s", str(script), f"http://127.0.0.1:{port}"],
                            capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    figures = json.loads(next(line for line in output.splitlines() if line.startswith("WRK "))[4:])
    return {"generator": "wrk", "answered": figures["requests"] - figures["non_2xx_3xx"], "seconds": seconds,
            "errors": figures["errors"] + figures["non_2xx_3xx"], "p99_ms": round(figures["p99_us"] / 1000, 1)}


def python_load(port: int, pair: str, first_id: int, args: argparse.Namespace) -> dict:
    """Threads on keep-alive connections, each posting one event after another until the time is up."""
    headers = {"Authorization": f"token {pair}", "Content-Type": "application/json"}

    def post(connection: http.client.HTTPConnection, thread: int, number: int) -> bool:
        body = orjson.dumps({"subscriber_id": first_id + (thread * 7919 + number) % args.subscribers,
                             "name": "page_view", "idempotency_key": f"py-{thread}-{number}"})
        connection.request("POST", "/api/events", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status == 200

    load = threaded_load(port, args.connections, args.seconds, post)
    return {"generator": load.generator, "answered": load.answered, "seconds": load.seconds, "errors": load.errors,
            "p99_ms": round(load.p99_ms, 1)}


if __name__ == "__main__":
    main()
