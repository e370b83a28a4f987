"""Group commit: the threads of one process that write at the same moment share one transaction.

Each request that stores a little (one customer event) hands its items to whichever of the waiting threads leads;
the leader writes everyone's items in one statement and one commit, and hands each thread its own results. On
SQLite this matters most: one writer at a time, and a writer that finds the file locked sleeps in SQLite's busy
handler (1, 2, 5, 10 … ms) while the lock is free again within a tenth of that, so sixteen one-row commits at once
queued behind each other's sleeps. A group has one writer per process instead. On PostgreSQL it saves commits.

There is no thread of its own: a request thread leads while others wait, then hands the lead to a waiting one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Waiter(Generic[Item, Result]):
    """One thread's items, and what became of them."""

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = items
        self.leads = False
        self.woken = threading.Event()
        self.results: Sequence[Result] = ()
        self.error: BaseException | None = None

    def outcome(self) -> Sequence[Result]:
        if self.error is not None:
            raise self.error
        return self.results


class GroupCommit(Generic[Item, Result]):
    """Call ``write`` with the items of every thread waiting at the moment, once for all of them.

    ``write`` takes a list of items and returns one result per item, in order; it runs in the leading thread
    (in its app context) and commits. Should it raise, every thread of that group gets the error.
    """

    def __init__(self, write: Callable[[list[Item]], Sequence[Result]]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._pending: list[_Waiter[Item, Result]] = []
        self._leading = False

    def __call__(self, items: Sequence[Item]) -> Sequence[Result]:
        """Write these items together with other threads' and return their results."""
        waiter: _Waiter[Item, Result] = _Waiter(items)
        with self._lock:
            self._pending.append(waiter)
            waiter.leads, self._leading = not self._leading, True
        if not waiter.leads:
            waiter.woken.wait()  # until a leader wrote our items, or handed us the lead
        if waiter.leads:
            self._lead()
        return waiter.outcome()

    def _lead(self) -> None:
        with self._lock:
            group, self._pending = self._pending, []
        try:
            results = self._write([item for waiter in group for item in waiter.items])
        except BaseException as error:  # noqa: BLE001  (each thread of the group raises it)
            for waiter in group:
                waiter.error = error
        else:
            start = 0
            for waiter in group:
                waiter.results = results[start:start + len(waiter.items)]
                start += len(waiter.items)
        with self._lock:
            if self._pending:  # those who came while we wrote: the first of them writes next
                self._pending[0].leads = True
                self._pending[0].woken.set()
            else:
                self._leading = False
        for waiter in group:
            waiter.leads = False
            waiter.woken.set()
