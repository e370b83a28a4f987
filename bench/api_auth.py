"""Benchmark: what API authentication costs per request, compared in the same run.

Prints one JSON line, last: µs per request for GET /api/health (no auth) and
GET /api/lists (token auth, empty list), their ratio, and one password check (scrypt)
next to one token check (SHA-256), which is why API tokens are not hashed with scrypt.
Run: .venv/bin/python -m bench.api_auth
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from flask_migrate import upgrade

from app import create_app
from bench import scratch_folder
from core.embedded import private_redis
from core.users import authenticate_password, authenticate_token, create_api_user, create_user

REQUESTS = 2000
CHECKS = 20


def per_call_us(func: Callable[[], object], count: int) -> float:
    """Return the mean µs of count calls after a short warm-up."""
    for _ in range(min(50, count)):
        func()
    started = time.perf_counter()
    for _ in range(count):
        func()
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    """Run the benchmark on a temporary SQLite database and a private redis-server."""
    folder = scratch_folder("api-auth")
    (folder / "redis").mkdir()
    with private_redis(folder / "redis") as redis_url:
        app = create_app({"KAIRAN_DATA_DIR": str(folder), "KAIRAN_REDIS_URL": redis_url})
        with app.app_context():
            upgrade()
            user, token = create_api_user("bench", "viewer")
            create_user("person", "correct horse battery", "viewer")
            pair = f"{user.username}:{token}"
            password_us = per_call_us(lambda: authenticate_password("person", "correct horse battery"), CHECKS)
            token_us = per_call_us(lambda: authenticate_token("bench", token), REQUESTS)
        client = app.test_client()
        headers = {"Authorization": f"token {pair}"}
        assert client.get("/api/lists", headers=headers).status_code == 200
        health_us = per_call_us(lambda: client.get("/api/health"), REQUESTS)
        lists_us = per_call_us(lambda: client.get("/api/lists", headers=headers), REQUESTS)
    print(json.dumps({
        "benchmark": "api_auth",
        "requests": REQUESTS,
        "health_no_auth_us": round(health_us, 1),
        "lists_token_auth_us": round(lists_us, 1),
        "lists_over_health": round(lists_us / health_us, 2),
        "token_check_us": round(token_us, 1),
        "password_check_us": round(password_us, 1),
        "password_over_token": round(password_us / token_us, 1),
    }))


if __name__ == "__main__":
    main()
