"""Benchmark: the open pixel and the click redirect under load, then every event found in the database.

Seeds a campaign with N deliveries and two links, serves Kairan on loopback with gunicorn as `make up`
runs it (core.embedded.web_argv) but without its access log (which adds ~80 µs of worker CPU per
request), and loads /o/<token>.gif and /c/<token> in turn, over the deliveries, with wrk when it is
installed (a Lua script; bounded by --seconds), else with Python threads on keep-alive connections
(bounded by --requests and --seconds). Then it flushes the Redis stream as the workers would and
counts the events stored: ``lost`` is answered requests with no event. ``flush_events_per_s`` is how many
it stores a second, and ``flush_events_per_cpu_s`` a second of this process's CPU time (the flusher's
Python; PostgreSQL's own work runs in its server), which swings less with the machine's other load; the
UA rules, which a process loads once (``ua_rules_load_seconds``), are loaded before. Right after, the same load
runs against the same gunicorn serving a bare WSGI pixel (no token, no Redis): ``bare_req_per_s`` is
the ceiling on this machine at this moment, and ``of_bare`` the share of it Kairan reaches, a figure
that swings less with the load of other processes than req/s does. ``cpu_us_per_request`` (and
``bare_cpu_us_per_request``) is the CPU time of the gunicorn workers, redis-server and the load
generator per answered request, read from /proc: it hardly depends on that load at all.
Prints one JSON line, last: {"requests","req_per_s","p99_ms","lost","flush_events_per_s", …}
Run: .venv/bin/python -m bench.track [--seconds 10] [--requests 60000] [--connections 16]
     [--deliveries 1000] [--database-url URL] [--no-bare]
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from redis import Redis
from sqlalchemy import func, insert, select

from app import create_app
from bench import scratch_folder
from bench.cpu import children, own_seconds, process_seconds
from bench.loader import Load, threaded_load
from core.db import db, utcnow
from core.embedded import WEB_PROCESSES, WEB_THREADS, port_answers, private_redis, web_argv
from core.tokens import Mark, mark_key, mark_token
from mailer.models import Campaign, ContentType, Delivery, DeliveryStatus, Link
from tests.resources import free_port, fresh_postgres
from tracking.classify import client_and_device
from tracking.flush import flush_events
from tracking.models import TrackingEvent
from tracking.views import PIXEL, PIXEL_HEADERS, PIXEL_STATUS

USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
TARGETS = {"req_per_s": 3000, "p99_ms": 50, "lost": 0}
STARTUP_SECONDS = 180  # for gunicorn's workers to build the app: on a loaded shared machine, over 30 s
WRK_SCRIPT = """
paths = {%s}
counter = 0
wrk.headers["User-Agent"] = "%s"
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("WRK {\\"requests\\": %%d, \\"errors\\": %%d, \\"non_2xx_3xx\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(99)))
end
"""




def main() -> None:
    """Seed, serve, load, flush, count."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=60_000, help="at most this many (Python load only)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-gunicorn ceiling run")
    args = parser.parse_args()
    load_average = os.getloadavg()[0]
    folder = scratch_folder("track")
    with private_redis(folder / "redis") as redis_url:
        database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
        port = free_port()
        env = {"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database, "KAIRAN_REDIS_URL": redis_url,
               "KAIRAN_SMTP_URL": "smtp://127.0.0.1:1", "KAIRAN_PORT": str(port),
               # one key for the app and gunicorn's, as a deployment's hosts share one (on PostgreSQL gunicorn.conf.py
               # refuses to start without it)
               "KAIRAN_SECRET_KEY": secrets.token_hex(32)}
        app = create_app(env)
        paths = seed(app, args.deliveries)
        load = wrk_load if shutil.which("wrk") else python_load
        redis_pid = int(Redis.from_url(redis_url).info("server")["process_id"])
        result = load_served(env, port, "app:create_app()", redis_pid, lambda at: load(at, paths, args))
        bare = None if args.no_bare else load_served(env, free_port(), "bench.track:bare_pixel", redis_pid,
                                                     lambda at: load(at, paths, args))
        started = time.perf_counter()
        client_and_device(USER_AGENT)  # ua-parser loads its rules on first use, once a process: not per event
        rules_seconds = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        with app.app_context():
            while flush_events():
                pass
            flush_seconds, flush_cpu = time.perf_counter() - started, time.process_time() - cpu_started
            events = db.session.scalar(select(func.count()).select_from(TrackingEvent)) or 0
    print(json.dumps({
        "benchmark": "track", "database": database.split(":")[0], "load": result.load.generator,
        "connections": args.connections, "requests": result.load.answered, "req_per_s": result.req_per_s,
        "p99_ms": round(result.load.p99_ms, 1), "errors": result.load.errors, "events": events,
        "lost": max(result.load.answered - events, 0), "cpu_us_per_request": result.cpu_us,
        "flush_seconds": round(flush_seconds, 2),
        "flush_events_per_s": round(events / flush_seconds) if flush_seconds else None,
        "flush_cpu_seconds": round(flush_cpu, 2),
        "flush_events_per_cpu_s": round(events / flush_cpu) if flush_cpu else None,
        "ua_rules_load_seconds": round(rules_seconds, 2),
        **({} if bare is None else {"bare_req_per_s": bare.req_per_s, "bare_p99_ms": round(bare.load.p99_ms, 1),
                                    "bare_cpu_us_per_request": bare.cpu_us,
                                    "of_bare": round(result.req_per_s / bare.req_per_s, 2)}),
        "gunicorn": f"{WEB_PROCESSES} workers, gthread, {WEB_THREADS} threads", "load_avg_1m": load_average,
        "targets": TARGETS,
    }))


@dataclass(frozen=True)
class Served:
    """A load on one server, and the CPU time each answered request cost, by process (µs; Linux only)."""

    load: Load
    cpu_us: dict[str, float]

    @property
    def req_per_s(self) -> int:
        return round(self.load.answered / self.load.seconds)


def bare_pixel(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    """The ceiling: a WSGI app that answers every request with the pixel and its headers, and does nothing else."""
    start_response(PIXEL_STATUS, PIXEL_HEADERS)
    return [PIXEL]


def load_served(env: dict[str, str], port: int, wsgi_app: str, redis_pid: int, load: Callable[[int], Load]) -> Served:
    """Serve wsgi_app with gunicorn on port, load it there, stop it.

    CPU time per request, unlike req/s, hardly depends on what else the machine runs: it is what
    says whether a change made the path cheaper. "loader" is wrk (or the Python threads).
    """
    server = serve(env, port, wsgi_app)
    try:
        web = children(server.pid)
        before = {"web": sum(process_seconds(web).values()), "redis": sum(process_seconds([redis_pid]).values()),
                  "loader": own_seconds()}
        result = load(port)
        after = {"web": sum(process_seconds(web).values()), "redis": sum(process_seconds([redis_pid]).values()),
                 "loader": own_seconds()}
    finally:
        server.terminate()
        server.wait(15)
    per_request = {name: round((after[name] - before[name]) / max(result.answered, 1) * 1e6, 1) for name in before}
    return Served(result, {**per_request, "all": round(sum(per_request.values()), 1)})


def seed(app: Flask, count: int) -> list[str]:
    """A sent campaign with two links and `count` deliveries; return a pixel and a click path of each."""
    with app.app_context():
        upgrade()
        campaign = Campaign(name="bench", subject="bench", content_type=ContentType.HTML, body="<p>bench</p>",
                            lists=[])
        db.session.add(campaign)
        db.session.flush()
        links = [Link(campaign_id=campaign.id, url=f"https://shop.example.jp/{n}") for n in (1, 2)]
        db.session.add_all(links)
        db.session.flush()
        sent = utcnow() - timedelta(hours=1)  # long enough ago that no click counts as a scanner's
        db.session.execute(insert(Delivery), [{"campaign_id": campaign.id, "status": DeliveryStatus.SENT,
                                              "sent_at": sent} for _ in range(count)])
        db.session.commit()
        key = mark_key()
        paths = []
        for number, delivery_id in enumerate(db.session.scalars(select(Delivery.id).order_by(Delivery.id))):
            paths.append(f"/o/{mark_token(Mark.OPEN, delivery_id, key=key)}.gif")
            paths.append(f"/c/{mark_token(Mark.CLICK, delivery_id, links[number % 2].id, key=key)}")
        return paths


def serve(env: dict[str, str], port: int, wsgi_app: str = "app:create_app()") -> subprocess.Popen[bytes]:
    """Start gunicorn as `make up` does (but for its access log) and wait until it answers; stop it if it does not."""
    server = subprocess.Popen(web_argv(port, wsgi_app=wsgi_app), env={**os.environ, **env},
                              cwd=Path(__file__).resolve().parents[1])
    try:
        _wait_for_workers(server, port)
    except BaseException:
        server.terminate()  # not left serving (and holding this process's output open) after the benchmark fails
        server.wait(15)
        raise
    return server


def _wait_for_workers(server: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not port_answers(port):
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start")
        time.sleep(0.1)
    # The master answers before its workers have built the app: wait until quick answers show both are up.
    quick = 0
    while quick < 20:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError("gunicorn's workers did not come up")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=left)  # a worker still booting
        started = time.perf_counter()
        connection.request("GET", "/o/warm-up.gif")  # not a token of ours: nothing is recorded
        connection.getresponse().read()
        connection.close()
        quick = quick + 1 if time.perf_counter() - started < 0.05 else 0


def wrk_load(port: int, paths: list[str], args: argparse.Namespace) -> Load:
    """Load with wrk (one thread: the two cores also run gunicorn and Redis)."""
    script = Path(scratch_folder("wrk")) / "paths.lua"
    script.write_text(WRK_SCRIPT % (", ".join(f'"{path}"' for path in paths), USER_AGENT))
    seconds = max(1, round(args.seconds))
    output = subprocess.run(
        ["wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "5s",
         "-s", str(script), f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True,
        timeout=seconds + 60).stdout
    figures = json.loads(next(line for line in output.splitlines() if line.startswith("WRK "))[4:])
    answered = figures["requests"] - figures["non_2xx_3xx"]
    return Load("wrk", answered, seconds, figures["p99_us"] / 1000, figures["errors"] + figures["non_2xx_3xx"])


def python_load(port: int, paths: list[str], args: argparse.Namespace) -> Load:
    """Load with threads on keep-alive connections, bounded by a request count and a time."""
    def get(connection: http.client.HTTPConnection, thread: int, number: int) -> bool:
        connection.request("GET", paths[(thread + number * args.connections) % len(paths)],
                           headers={"User-Agent": USER_AGENT})
        response = connection.getresponse()
        response.read()
        return response.status in (200, 302)

    return threaded_load(port, args.connections, args.seconds, get, per_thread=args.requests // args.connections)


if __name__ == "__main__":
    main()
