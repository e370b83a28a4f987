"""Redis connection and the named RQ queues every package enqueues on.

Core has one queue of its own, ``default``; each package declares its others with ``register_queue``
in its queues module (mailer/queues.py, lists/queues.py), which its ``__init__`` imports, so core
names none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NewType

from flask import Flask, current_app
from redis import Redis
from rq import Queue

QueueName = NewType("QueueName", str)


class Priority(IntEnum):
    """A queue's place in every worker's order: RQ workers take their next job from the first queue that has one.

    So a job on a queue of an earlier priority waits at most for the job a worker is running, never
    behind those queued on later ones: sending never waits behind imports, nor a transactional
    message behind campaign batches. Queues of equal priority keep the order they were declared in.
    """

    SOMEONE_WAITS = 0  # a person waits for the result: transactional mail, opt-in mail, test sends
    DEFAULT = 1  # core's default queue: short jobs (event flushes, mailbox polls)
    BULK = 2  # campaign batches
    BACKGROUND = 3  # long jobs nobody waits on by the second: CSV imports


@dataclass(frozen=True)
class QueueSpec:
    """A declared queue."""

    name: QueueName
    priority: Priority
    in_process: bool  # its jobs run in the worker's own process, not a forked work horse (core/cli.py)


_QUEUES: dict[str, QueueSpec] = {}
# Every declared queue, in the order workers serve them: `flask worker` uses it unless queues are named,
# and the workers `make up` starts (core/embedded.py) are started that way. Kept in order by register_queue.
WORKER_QUEUES: list[QueueName] = []


def register_queue(name: str, priority: Priority, *, in_process: bool = False) -> QueueName:
    """Declare a queue and return its name, to enqueue on with ``queue(name)``.

    ``in_process``: its jobs run in the worker's own process, so what one job loads (a compiled campaign,
    a parsed DKIM key) is still there for the next; a forked work horse would load it again for each.
    """
    if name in _QUEUES:
        raise ValueError(f"A queue named {name!r} is declared already.")
    spec = QueueSpec(QueueName(name), priority, in_process)
    _QUEUES[name] = spec
    WORKER_QUEUES.append(spec.name)
    WORKER_QUEUES.sort(key=lambda queued: _QUEUES[queued].priority)  # stable: equal priorities keep their order
    return spec.name


def queue_spec(name: str) -> QueueSpec | None:
    """Return a declared queue, or None for a name nobody declared."""
    return _QUEUES.get(name)


DEFAULT_QUEUE = register_queue("default", Priority.DEFAULT)

# A worker refreshes its heartbeat at least every WORKER_TTL - 15 s (RQ's dequeue timeout),
# so a worker silent for longer than WORKER_TTL is dead (e.g. SIGKILLed) and shown as such.
WORKER_TTL = 20
RQ_MAINTENANCE_SECONDS = 600  # RQ's own default, for a worker that has no periodic job to queue


@dataclass(frozen=True)
class PeriodicJob:
    """A job the workers queue every ``seconds``, one of them each time."""

    queue: QueueName
    job: Callable[[], Any]
    seconds: int

    @property
    def lock(self) -> str:
        """The Redis key held for an interval by the worker that queued it."""
        return f"kairan:periodic:{self.job.__module__}.{self.job.__qualname__}"


def register_periodic(app: Flask, name: QueueName, job: Callable[[], Any], seconds: int) -> None:
    """Have the workers queue ``job`` every ``seconds``, one of them each time (core/cli.py):
    packages register their own periodic jobs, so core names none of them."""
    app.extensions.setdefault("kairan_periodic_jobs", []).append(PeriodicJob(name, job, seconds))


def periodic_jobs() -> list[PeriodicJob]:
    """Return the current app's periodic jobs."""
    jobs: list[PeriodicJob] = current_app.extensions.get("kairan_periodic_jobs", [])
    return jobs


def maintenance_seconds() -> int:
    """How often a worker runs its maintenance, which queues the periodic jobs: as often as the most frequent."""
    return min((periodic.seconds for periodic in periodic_jobs()), default=RQ_MAINTENANCE_SECONDS)


def init_app(app: Flask) -> None:
    """Create the app's Redis client (connections are opened lazily, on first use)."""
    app.extensions["kairan_redis"] = Redis.from_url(app.config["KAIRAN"].redis_url, socket_timeout=5)


def redis() -> Redis:
    """Return the current app's Redis client."""
    client: Redis = current_app.extensions["kairan_redis"]
    return client


def queue(name: QueueName = DEFAULT_QUEUE) -> Queue:
    """Return one of the declared RQ queues."""
    return Queue(name, connection=redis())


def limiter_storage_uri(redis_url: str) -> str:
    """Translate a Redis URL to the form the ``limits`` library wants for Unix sockets."""
    return "redis+unix://" + redis_url.removeprefix("unix://") if redis_url.startswith("unix://") else redis_url
