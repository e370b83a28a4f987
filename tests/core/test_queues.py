"""Queues and periodic jobs, declared by the packages that own them: workers serve them in priority order."""

from __future__ import annotations

import pytest
from flask import Flask

from app import create_app
from core.cli import KairanWorker
from core.queues import (
    DEFAULT_QUEUE,
    WORKER_QUEUES,
    Priority,
    maintenance_seconds,
    queue,
    queue_spec,
    redis,
    register_periodic,
    register_queue,
)
from lists.queues import IMPORT_QUEUE
from mailer.queues import SEND_QUEUE, TX_QUEUE
from webhooks.queues import WEBHOOKS_QUEUE


def tidy_up() -> None:
    """A periodic job of the test's own (the workers queue it by reference, as any job)."""


def test_workers_serve_every_declared_queue_in_priority_order() -> None:
    # A message someone waits for first, then core's short jobs, webhooks' deliveries, campaign batches, and imports
    # last.
    assert WORKER_QUEUES == [TX_QUEUE, DEFAULT_QUEUE, WEBHOOKS_QUEUE, SEND_QUEUE, IMPORT_QUEUE]
    assert [spec.in_process for spec in map(queue_spec, WORKER_QUEUES) if spec] == [True, False, True, True, False]
    with pytest.raises(ValueError, match="A queue named 'send' is declared already"):
        register_queue("send", Priority.BACKGROUND)
    assert WORKER_QUEUES.count(SEND_QUEUE) == 1


def test_each_periodic_job_is_queued_once_its_interval_by_one_worker(settings_env: dict[str, str]) -> None:
    app: Flask = create_app({**settings_env, "KAIRAN_RECONCILE_SECONDS": "7", "KAIRAN_SEND_LEASE_SECONDS": "60"})
    register_periodic(app, DEFAULT_QUEUE, tidy_up, 3600)
    with app.app_context():
        assert maintenance_seconds() == 7  # as often as the most frequent: mailer's reconciler (the lease check: 12)
        workers = [KairanWorker([queue(name) for name in WORKER_QUEUES], connection=redis(), name=f"worker-{n}",
                                maintenance_interval=maintenance_seconds()) for n in (1, 2)]
        for worker in workers * 2:
            worker.run_maintenance_tasks()
        assert [job.func_name for job in queue(SEND_QUEUE).jobs] == ["mailer.sending.reconcile"]
        assert sorted(str(job.func_name) for job in queue(DEFAULT_QUEUE).jobs) == [
            "automations.conversions.attribute", "automations.retention.sweep", "automations.triggers.react",
            "automations.triggers.scan", "core.audit.sweep",
            "lists.consent_retention.sweep", "lists.growth.refresh", "lists.imports.sweep",
            "mailer.batch_job.take_back_lapsed_leases",  # each package's own
            "tests.core.test_queues.tidy_up"]
        assert sorted(str(job.func_name) for job in queue(WEBHOOKS_QUEUE).jobs) == [
            "webhooks.delivery.dispatch", "webhooks.delivery.forget"]
        assert 3590 < redis().ttl(f"kairan:periodic:{__name__}.tidy_up") <= 3599  # its own interval, not 7 s
