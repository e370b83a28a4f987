"""Rows taken a batch at a time: an export streams one chunk per batch, a query asks ``IN`` one batch of ids at a
time (a database caps a statement's parameters)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")
IN_BATCH = 1000  # ids per IN query: a database caps a statement's parameters


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """The items in lists of ``size``, the last one shorter (itertools.batched is Python 3.12's, and gives tuples)."""
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
