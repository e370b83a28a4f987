"""webhooks' queue: deliveries run in the worker's own process (no fork per job), beside core's short jobs."""

from __future__ import annotations

from core.queues import Priority, register_queue

WEBHOOKS_QUEUE = register_queue("webhooks", Priority.DEFAULT, in_process=True)
