"""System health: a registry of checks that each package adds its own components to."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from redis.exceptions import RedisError
from rq import Worker
from rq.worker import BaseWorker
from sqlalchemy import text

from core.db import db
from core.queues import WORKER_QUEUES, WORKER_TTL, queue, redis
from core.scheduler import scheduler_holders
from core.urls import hide_password


@dataclass
class Component:
    """The state of one part of the system, as the dashboard and /api/health/detail show it."""

    ok: bool
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    elapsed_ms: float = 0.0


Check = Callable[[], Component]


def register(app: Flask, name: str, check: Check) -> None:
    """Add a named check to the app's health report."""
    app.extensions.setdefault("kairan_health", {})[name] = check


@dataclass(frozen=True)
class Notice:
    """Something on the dashboard an admin should look at (a campaign that paused itself, say)."""

    text: str
    url: str


def register_notices(app: Flask, source: Callable[[], list[Notice]]) -> None:
    """Add a source of dashboard notices (packages register theirs; core does not know them)."""
    app.extensions.setdefault("kairan_notices", []).append(source)


def notices() -> list[Notice]:
    """Return every registered source's notices."""
    return [notice for source in current_app.extensions.get("kairan_notices", []) for notice in source()]


def run_checks() -> dict[str, Component]:
    """Run every registered check; a check that raises is reported as failing, with its error."""
    results: dict[str, Component] = {}
    for name, check in current_app.extensions.get("kairan_health", {}).items():
        started = time.perf_counter()
        try:
            component = check()
        except Exception as exc:  # noqa: BLE001 - a health report must name any failure, not crash
            component = Component(ok=False, detail=f"{type(exc).__name__}: {exc}")
        component.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        results[name] = component
    return results


def check_database() -> Component:
    """Run a trivial query."""
    db.session.execute(text("SELECT 1"))
    return Component(ok=True, detail=db.engine.dialect.name)


def check_redis() -> Component:
    """Ping Redis."""
    redis().ping()
    return Component(ok=True, detail=hide_password(current_app.config["KAIRAN"].redis_url))


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_alive(worker: BaseWorker, now: datetime) -> bool:
    """Tell whether a worker lives: on this host by its PID, elsewhere by a heartbeat younger than WORKER_TTL."""
    if worker.hostname == socket.gethostname() and worker.pid and not _pid_exists(worker.pid):
        return False  # e.g. SIGKILLed: it could not unregister, and its heartbeat is still fresh
    beat = worker.last_heartbeat
    return beat is not None and (now - beat.replace(tzinfo=UTC)).total_seconds() < WORKER_TTL


def check_workers() -> Component:
    """List RQ workers and tell which are alive; healthy while at least one is."""
    now = datetime.now(UTC)
    workers = []
    for worker in Worker.all(connection=redis()):
        alive = worker_alive(worker, now)
        workers.append({
            "name": worker.name, "pid": worker.pid, "alive": alive, "queues": worker.queue_names(),
            # RQ keeps a killed worker's last state ("idle"); say what is true instead.
            "state": str(worker.get_state()) if alive else "stopped",
        })
    alive_count = sum(1 for w in workers if w["alive"])
    return Component(ok=alive_count > 0, detail=str(alive_count), data={"workers": workers})


def check_scheduler() -> Component:
    """Tell which worker releases each queue's scheduled jobs; failing while a queue has none, since its
    deferred batches, retries and scheduled campaigns would then wait for ever."""
    holders = scheduler_holders(redis())
    unheld = sorted(name for name, holder in holders.items() if holder is None)
    detail = f"none for {', '.join(unheld)}" if unheld else ", ".join(sorted(set(filter(None, holders.values()))))
    return Component(ok=not unheld, detail=detail, data={"queues": holders})


def scheduler_notices() -> list[Notice]:
    """The dashboard's notice while no scheduler runs for a queue (Redis being down is the Redis tile's to say)."""
    try:
        holders = scheduler_holders(redis())
    except RedisError:
        return []
    unheld = sorted(name for name, holder in holders.items() if holder is None)
    if not unheld:
        return []
    if len(unheld) < len(holders):  # e.g. the only workers taking imports are down: the others' go on
        message = ngettext("No scheduler runs for the %(queues)s queue: what is put off there waits until a worker "
                           "that takes it runs.",
                           "No scheduler runs for the %(queues)s queues: what is put off there waits until a worker "
                           "that takes them runs.", len(unheld), queues=", ".join(unheld))
    else:
        message = _("No scheduler is running: scheduled campaigns, deferred batches and retries wait until one "
                    "does. Every worker runs one unless started with --without-scheduler.")
    return [Notice(message, url_for("core.system", _anchor="scheduler"))]


def check_queues() -> Component:
    """Report how many jobs wait on each declared queue."""
    return Component(ok=True, data={name: queue(name).count for name in WORKER_QUEUES})


def init_app(app: Flask) -> None:
    """Register the core checks."""
    register(app, "database", check_database)
    register(app, "redis", check_redis)
    register(app, "workers", check_workers)
    register(app, "scheduler", check_scheduler)
    register(app, "queues", check_queues)
    register_notices(app, scheduler_notices)
