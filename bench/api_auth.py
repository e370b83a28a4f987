"""Benchmark: what API authentication costs per request, and what the audit log adds to an API write, compared in
the same run.

Prints one JSON line, last: µs per request for GET /api/health (no auth) and
GET /api/lists (token auth, empty list), their ratio, and one password check (scrypt)
next to one token check (SHA-256), which is why API tokens are not hashed with scrypt. Then an API write
(POST /api/lists, a list created) with its audit entry and without (the audit log's flush hook taken off), in
alternating rounds: each way's median round, and the median of the rounds' differences (the goal: at most 1 ms)
and of their ratios.
Run: .venv/bin/python -m bench.api_auth [--database-url URL]  (a scratch PostgreSQL database: its schema is emptied)
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import event
from sqlalchemy.orm import Session

from app import create_app
from bench import scratch_folder
from core import audit
from core.embedded import private_redis
from core.users import authenticate_password, authenticate_token, create_api_user, create_user
from tests.resources import fresh_postgres

REQUESTS = 2000
CHECKS = 20
WRITES = 1000  # API writes each way, in rounds of WRITE_ROUND, with and without the audit log alternating
WRITE_ROUND = 50


def per_call_us(func: Callable[[], object], count: int) -> float:
    """Return the mean µs of count calls after a short warm-up."""
    for _ in range(min(50, count)):
        func()
    started = time.perf_counter()
    for _ in range(count):
        func()
    return (time.perf_counter() - started) / count * 1e6


def audited_write_us(app: Flask, client: FlaskClient,
                     headers: dict[str, str]) -> tuple[float, float, float, float]:
    """µs of an API write with its audit entry and without it (the flush hook off), in rounds alternating so that
    both meet the same database state and machine load: each way's median round, and the median of the rounds'
    differences (a burst of another process's load sways one round, not the figure)."""
    names = (f"bench-{number}" for number in itertools.count())

    def write() -> None:
        response = client.post("/api/lists", headers=headers, json={"name": next(names)})
        assert response.status_code == 200, response.get_json()

    rounds: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(WRITES // WRITE_ROUND):
        for audited in (True, False):
            if not audited:
                event.remove(Session, "after_flush", audit.flushed)
            try:
                rounds[audited].append(per_call_us(write, WRITE_ROUND))
            finally:
                if not audited:
                    event.listen(Session, "after_flush", audit.flushed)
    with app.app_context():
        assert audit.verify().whole
    pairs = list(zip(rounds[True], rounds[False], strict=True))
    added = statistics.median(audited - plain for audited, plain in pairs)
    ratio = statistics.median(audited / plain for audited, plain in pairs)
    return statistics.median(rounds[True]), statistics.median(rounds[False]), added, ratio


def main() -> None:
    """Run the benchmark on a temporary SQLite database (or the scratch PostgreSQL given) and a private
    redis-server."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="", help="a scratch PostgreSQL database (its schema is emptied)")
    args = parser.parse_args()
    folder = scratch_folder("api-auth")
    (folder / "redis").mkdir()
    config = {"KAIRAN_DATA_DIR": str(folder)}
    if args.database_url:
        config["KAIRAN_DATABASE_URL"] = fresh_postgres(args.database_url)
    with private_redis(folder / "redis") as redis_url:
        app = create_app({**config, "KAIRAN_REDIS_URL": redis_url})
        with app.app_context():
            upgrade()
            user, token = create_api_user("bench", "viewer")
            writer, write_token = create_api_user("writer", "editor")
            create_user("person", "correct horse battery", "viewer")
            pair, write_pair = f"{user.username}:{token}", f"{writer.username}:{write_token}"
            password_us = per_call_us(lambda: authenticate_password("person", "correct horse battery"), CHECKS)
            token_us = per_call_us(lambda: authenticate_token("bench", token), REQUESTS)
        client = app.test_client()
        headers = {"Authorization": f"token {pair}"}
        assert client.get("/api/lists", headers=headers).status_code == 200
        health_us = per_call_us(lambda: client.get("/api/health"), REQUESTS)
        lists_us = per_call_us(lambda: client.get("/api/lists", headers=headers), REQUESTS)
        writer_headers = {"Authorization": f"token {write_pair}"}
        audited_us, unaudited_us, added_us, ratio = audited_write_us(app, client, writer_headers)
    print(json.dumps({
        "benchmark": "api_auth",
        "database": "postgresql" if args.database_url else "sqlite",
        "requests": REQUESTS,
        "health_no_auth_us": round(health_us, 1),
        "lists_token_auth_us": round(lists_us, 1),
        "lists_over_health": round(lists_us / health_us, 2),
        "token_check_us": round(token_us, 1),
        "password_check_us": round(password_us, 1),
        "password_over_token": round(password_us / token_us, 1),
        "writes": WRITES,
        "write_with_audit_us": round(audited_us, 1),
        "write_without_audit_us": round(unaudited_us, 1),
        "audit_added_us": round(added_us, 1),
        "audit_added_under_1ms": added_us <= 1000,
        "with_over_without_audit": round(ratio, 3),
    }))


if __name__ == "__main__":
    main()
