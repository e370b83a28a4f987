"""The scheduler: RQ's, run by every worker, with a lock short enough that a dead one is replaced in seconds.

Jobs queued for later (a campaign's start at its send time, batches put off by a throttle, a 4xx
back-off or quiet hours, transactional mail's retries) wait in RQ's scheduled registries until a
scheduler releases them onto their queue. Every ``flask worker`` runs a scheduler process: the one
holding a queue's lock releases that queue's due jobs once a second and renews the lock as it does;
the others try to take the lock every second. RQ's own lock outlives its holder's last renewal by a
minute, so a host that died would leave deferred mail waiting that long: here it lapses after
LOCK_SECONDS, and a waiting scheduler on another host takes over.
"""

from __future__ import annotations

import logging

from redis import Redis
from rq.scheduler import RQScheduler
from rq.scripts import ACQUIRE_OR_REFRESH_LOCK_SCRIPT
from rq.utils import now

from core.queues import WORKER_QUEUES

log = logging.getLogger(__name__)

# A holder renews its locks every second; one silent this long (dead, or cut off from Redis) loses them.
LOCK_SECONDS = 10
_TAKEN = 0  # what RQ's lock script answers when another scheduler holds the lock


class Scheduler(RQScheduler):
    """RQ's scheduler, holding its queues' locks for LOCK_SECONDS, and waiting for the locks it lacks."""

    @property
    def should_reacquire_locks(self) -> bool:
        """Never in RQ's way: heartbeat() tries for every lock each second."""
        return False

    def acquire_locks(self, auto_start: bool = False) -> set[str]:
        """Take or renew each free or own queue lock; with ``auto_start``, (re)start the scheduler process,
        which keeps trying for the others."""
        names = sorted(self._queue_names)
        script = self.connection.register_script(ACQUIRE_OR_REFRESH_LOCK_SCRIPT)
        with self.connection.pipeline() as pipeline:
            for name in names:
                script(keys=[self.get_locking_key(name)], args=[self.name, LOCK_SECONDS], client=pipeline)
            outcomes = pipeline.execute()
        held = {name for name, outcome in zip(names, outcomes, strict=True) if outcome != _TAKEN}
        if held != self._acquired_locks:
            if held - self._acquired_locks:
                log.info("scheduler %s now releases the scheduled jobs of %s", self.name,
                         ", ".join(sorted(held - self._acquired_locks)))
            self._scheduled_job_registries = []  # made again for the queues now held
            self._acquired_locks = held
        if auto_start and not (self._process and self._process.is_alive()):
            self.start()
        return held

    def heartbeat(self) -> None:
        """Record that this scheduler lives, renew its locks and take any that lapsed."""
        self.last_heartbeat = now()
        self.save()
        self.acquire_locks()


def scheduler_holders(connection: Redis) -> dict[str, str | None]:
    """Return, per queue, the name of the scheduler (the worker) that releases its scheduled jobs, or None."""
    names = list(WORKER_QUEUES)
    held = connection.mget([Scheduler.get_locking_key(name) for name in names])
    return {name: holder.decode() if isinstance(holder, bytes) else holder for name, holder in zip(names, held,
                                                                                                   strict=True)}
