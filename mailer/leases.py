"""The lease a send job holds on the deliveries it claimed, renewed while its worker lives.

A job leases its rows for KAIRAN_SEND_LEASE_SECONDS (mailer/queries.py ``claim``) and renews the
lease every third of that for as long as it sends, however long its batch takes: the lease can be
short. A worker that dies (its machine, say) stops renewing, its rows' lease lapses seconds later,
and a periodic job queues them again (mailer/batch_job.py ``take_back_lapsed_leases``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from types import TracebackType

from flask import Flask

from core.db import db
from mailer import queries

log = logging.getLogger(__name__)


class LeaseKeeper:
    """While in its ``with`` block, renews the lease of the claimed deliveries not yet recorded or put back."""

    def __init__(self, app: Flask, delivery_ids: Sequence[int], lease_seconds: int) -> None:
        self.app, self.delivery_ids, self.lease_seconds = app, list(delivery_ids), lease_seconds
        self.every = max(lease_seconds / 3, 0.5)  # two renewals may fail before the lease lapses
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._renew_until_stopped, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stopped.set()
        self.thread.join()

    def _renew_until_stopped(self) -> None:
        with self.app.app_context():
            try:
                while not self.stopped.wait(self.every):
                    try:
                        queries.renew(self.delivery_ids, self.lease_seconds)
                    except Exception:  # a database hiccup: the next renewal may still come in time
                        db.session.rollback()
                        log.exception("renewing a send lease failed")
            finally:
                db.session.remove()
