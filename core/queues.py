"""Redis connection and the named RQ queues every package enqueues on."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue


class QueueName(StrEnum):
    """Named queues: sending never waits behind imports or the other way round."""

    TX = "tx"  # transactional mail, opt-in mail and test sends: one message per job
    DEFAULT = "default"
    SEND = "send"
    IMPORT = "import"


# RQ workers take jobs from their queues in the order given, so every worker serves "tx" first:
# a transactional message waits at most for the job a worker is running, never behind the
# queued campaign batches. `flask worker` uses this order unless queues are named, and `make up`
# (core/embedded.py) starts its workers that way.
WORKER_QUEUES = (QueueName.TX, QueueName.DEFAULT, QueueName.SEND, QueueName.IMPORT)

# A worker refreshes its heartbeat at least every WORKER_TTL - 15 s (RQ's dequeue timeout),
# so a worker silent for longer than WORKER_TTL is dead (e.g. SIGKILLed) and shown as such.
WORKER_TTL = 20


def register_periodic(app: Flask, name: QueueName, job: Callable[[], Any]) -> None:
    """Have the workers queue ``job`` once a maintenance interval, one of them each time (core/cli.py):
    packages register their own periodic jobs, so core names none of them."""
    app.extensions.setdefault("kairan_periodic_jobs", []).append((name, job))


def periodic_jobs() -> list[tuple[QueueName, Callable[[], Any]]]:
    """Return the current app's periodic jobs, with the queue each goes to."""
    jobs: list[tuple[QueueName, Callable[[], Any]]] = current_app.extensions.get("kairan_periodic_jobs", [])
    return jobs


def init_app(app: Flask) -> None:
    """Create the app's Redis client (connections are opened lazily, on first use)."""
    app.extensions["kairan_redis"] = Redis.from_url(app.config["KAIRAN"].redis_url, socket_timeout=5)


def redis() -> Redis:
    """Return the current app's Redis client."""
    client: Redis = current_app.extensions["kairan_redis"]
    return client


def queue(name: QueueName = QueueName.DEFAULT) -> Queue:
    """Return one of the named RQ queues."""
    return Queue(str(name), connection=redis())


def limiter_storage_uri(redis_url: str) -> str:
    """Translate a Redis URL to the form the ``limits`` library wants for Unix sockets."""
    return "redis+unix://" + redis_url.removeprefix("unix://") if redis_url.startswith("unix://") else redis_url
