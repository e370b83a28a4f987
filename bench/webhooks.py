"""Benchmark: outgoing webhooks delivered by real workers to a local receiver; a receiver down for ten minutes.

A new data folder (SQLite, or --database-url's PostgreSQL) with one endpoint for a receiver on loopback (a threaded
HTTP server that verifies every request with the ``standardwebhooks`` package, as a shop would) and W real
``flask worker webhooks`` processes. Events are written to the outbox as the signals' receivers write them
(``webhooks.outbox.announce``, --batch events a transaction, each for one of --subscribers subscribers, with a
sequence number per subscriber): in turn ``message.opened``, ``message.clicked`` (both batched, up to 100 a
request, when --batched) and ``subscriber.updated`` (one request each).

1. ``events_per_s``: --events events written as fast as the database takes them, timed from the first commit to
   the last event's arrival; ``p95_delay_s``: from an event's commit to its arrival (wall clock).
2. The receiver answers 503 ("down"); --down-events more are written and refused; the movable clock
   (core/clock.py) is moved on ten minutes, the retries refused again; then it answers 200 and the clock is moved
   on half an hour at a time until everything arrived. ``down_delivered`` must equal --down-events.

For both: ``lost`` events never received, ``duplicates`` events received more than once, ``out_of_order``
subscribers whose events arrived in another order than written.
Prints one JSON line, last: {"benchmark":"webhooks","events","events_per_s","lost","duplicates","p95_delay_s", …}
Run: .venv/bin/python -m bench.webhooks [--events 30000] [--batch 1000] [--subscribers 1000] [--workers 1]
     [--down-events 5000] [--no-batched] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from redis import Redis
from rq import Worker
from standardwebhooks import Webhook

from app import create_app
from bench import scratch_folder
from core import clock
from core.db import db
from core.embedded import private_redis
from tests.resources import fresh_postgres
from webhooks.endpoints import add_endpoint
from webhooks.outbox import announce

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"events_per_s": 2000, "lost": 0, "duplicates": 0, "out_of_order": 0}
TYPES = ("message.opened", "message.clicked", "subscriber.updated")


class Receiver:
    """A local endpoint: verifies each request, keeps each event with its arrival time; answers ``status``."""

    def __init__(self) -> None:
        self.secret = ""
        self.status = 200
        self.lock = threading.Lock()
        self.arrived: list[tuple[float, dict[str, Any]]] = []  # (arrival, event), in arrival order
        self.refused = 0
        self.unverified = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["content-length"]))
                status = receiver.status
                try:
                    body = Webhook(receiver.secret).verify(raw, {k.lower(): v for k, v in self.headers.items()})
                except Exception:  # noqa: BLE001 - counted, and refused as a receiver would
                    body, status = None, 401
                    receiver.unverified += 1
                if status == 200 and body is not None:
                    now = time.time()
                    events = body["data"] if body["type"] == "batch" else [body]
                    with receiver.lock:
                        receiver.arrived.extend((now, event) for event in events)
                else:
                    receiver.refused += 1
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def count(self) -> int:
        with self.lock:
            return len(self.arrived)


def write(app: Flask, subscribers: int, batch: int, total: int, sequence: Counter[int]) -> list[dict[str, Any]]:
    """Write ``total`` events, ``batch`` a transaction; return what was written (subscriber, seq, type, at)."""
    written: list[dict[str, Any]] = []
    with app.app_context():
        turn = 0
        while len(written) < total:
            event_type = TYPES[turn % len(TYPES)]
            items = []
            for offset in range(min(batch, total - len(written))):
                subscriber = (turn * batch + offset) % subscribers + 1
                sequence[subscriber] += 1
                items.append((subscriber, {"subscriber_id": subscriber, "seq": sequence[subscriber],
                                           "made_at": time.time()}))
            announce(event_type, items)
            db.session.commit()  # the kick queues the delivery job
            written += [{**data, "type": event_type} for _s, data in items]
            turn += 1
    return written


def check(written: list[dict[str, Any]], arrived: list[tuple[float, dict[str, Any]]]) -> dict[str, int]:
    """Lost, duplicated and out-of-order events (per subscriber, by their sequence numbers)."""
    keys = Counter((e["data"]["subscriber_id"], e["data"]["seq"]) for _at, e in arrived)
    expected = {(e["subscriber_id"], e["seq"]) for e in written}
    order: dict[int, list[int]] = {}
    for _at, event in arrived:
        order.setdefault(event["data"]["subscriber_id"], []).append(event["data"]["seq"])
    return {"lost": len(expected - set(keys)), "duplicates": sum(n - 1 for key, n in keys.items() if key in expected),
            "out_of_order": sum(1 for seqs in order.values() if seqs != sorted(seqs))}


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def throughput(app: Flask, args: argparse.Namespace, receiver: Receiver, sequence: Counter[int]) -> dict[str, Any]:
    """1. Events written as fast as the database takes them, timed until the last arrived."""
    started = time.time()
    written = write(app, args.subscribers, args.batch, args.events, sequence)
    write_seconds = time.time() - started
    wait_for(lambda: receiver.count() >= len(written), 300)
    arrived = list(receiver.arrived)
    elapsed = max(at for at, _e in arrived) - started if arrived else float("inf")
    delays = sorted(at - e["data"]["made_at"] for at, e in arrived)
    return {"events": len(written), "events_per_s": round(len(written) / elapsed),
            "write_s": round(write_seconds, 2), "deliver_s": round(elapsed, 2), **check(written, arrived),
            "p50_delay_s": round(statistics.median(delays), 3) if delays else None,
            "p95_delay_s": round(delays[int(len(delays) * 0.95) - 1], 3) if delays else None}


def receiver_down(app: Flask, args: argparse.Namespace, receiver: Receiver, sequence: Counter[int],
                  redis_url: str) -> dict[str, Any]:
    """2. Down for ten minutes (the moved clock), then back: everything arrives, once, in order."""
    receiver.status, before = 503, receiver.count()
    down = write(app, args.subscribers, args.batch, args.down_events, sequence)
    wait_for(lambda: receiver.refused >= 1, 60)
    clock.move(redis_url, timedelta(minutes=10))
    time.sleep(3)  # the dispatch (every second) finds the retries due; they are refused again
    receiver.status = 200
    moved = 10
    while receiver.count() - before < len(down) and moved < 24 * 60:
        clock.move(redis_url, timedelta(minutes=30))  # the next retries fall due: the waits grow ×4
        moved += 30
        wait_for(lambda: receiver.count() - before >= len(down), 5)
    back = receiver.arrived[before:]
    found = check(down, back)
    return {"down_events": len(down),
            "down_delivered": len({(e["data"]["subscriber_id"], e["data"]["seq"]) for _a, e in back}),
            "down_refused_requests": receiver.refused, "clock_moved_min": moved,
            **{f"down_{key}": value for key, value in found.items()}, "unverified": receiver.unverified}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--down-events", type=int, default=5000)
    parser.add_argument("--no-batched", dest="batched", action="store_false")
    parser.add_argument("--database-url", help="a PostgreSQL database to empty and use (default: SQLite)")
    args = parser.parse_args()
    load_start = os.getloadavg()
    folder = scratch_folder("webhooks")
    receiver = Receiver()
    workers: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {}
    with private_redis(folder / "redis") as redis_url:
        database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
        env = {"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database, "KAIRAN_REDIS_URL": redis_url,
               "KAIRAN_SECRET_KEY": secrets.token_hex(32), "KAIRAN_MOVABLE_CLOCK": "true",
               "KAIRAN_WEBHOOK_DISPATCH_SECONDS": "1"}
        app = create_app(env)
        with app.app_context():
            upgrade()
            endpoint = add_endpoint({"url": receiver.url, "event_types": list(TYPES),
                                     "batch_high_volume": args.batched})
            receiver.secret = endpoint.secret
        try:
            for number in range(args.workers):
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "app", "worker", "webhooks"], cwd=ROOT,
                    env={**os.environ, **env}, stdout=(folder / f"worker-{number}.log").open("wb"),
                    stderr=subprocess.STDOUT))
            redis = Redis.from_url(redis_url)
            if not wait_for(lambda: len(Worker.all(connection=redis)) >= args.workers, 60):
                raise RuntimeError("the workers did not start")
            sequence: Counter[int] = Counter()
            result.update(throughput(app, args, receiver, sequence))
            down = receiver_down(app, args, receiver, sequence, redis_url)
            for key in ("lost", "duplicates", "out_of_order"):
                result[key] += down[f"down_{key}"]
            result.update(down)
            result["unverified"] = receiver.unverified
        finally:
            for worker in workers:
                worker.terminate()
                try:
                    worker.wait(60)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait(10)
            receiver.server.shutdown()
    print(json.dumps({"benchmark": "webhooks", "database": "postgresql" if args.database_url else "sqlite",
                      "events": result.pop("events"), "events_per_s": result.pop("events_per_s"),
                      "lost": result.pop("lost"), "duplicates": result.pop("duplicates"),
                      "p95_delay_s": result.pop("p95_delay_s"), **result, "batched": args.batched,
                      "workers": args.workers, "subscribers": args.subscribers,
                      "load_avg_start": [round(x, 2) for x in load_start],
                      "load_avg_end": [round(x, 2) for x in os.getloadavg()], "targets": TARGETS}))


if __name__ == "__main__":
    main()
