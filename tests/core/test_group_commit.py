"""core/group_commit.py with real threads: one write for the threads waiting together, each thread its own results,
and a failed write raised in every thread of its group while the next group is written all the same."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from core.group_commit import GroupCommit


class Store:
    """A write that holds its first call until the test releases it, so that others queue up behind it."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.entered, self.release = threading.Event(), threading.Event()
        self.fail_on = fail_on

    def write(self, items: list[str]) -> Sequence[str]:
        self.calls.append(items)
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(30)
        if self.fail_on in items:
            raise RuntimeError(f"refused {self.fail_on}")
        return [item.upper() for item in items]


def run_together(group: GroupCommit[str, str], store: Store, batches: list[list[str]]) -> dict[int, object]:
    """The first batch's thread leads; the others arrive while it writes; return each thread's results or error."""
    answers: dict[int, object] = {}

    def call(number: int) -> None:
        try:
            answers[number] = list(group(batches[number]))
        except RuntimeError as error:
            answers[number] = error

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(batches))]
    threads[0].start()
    assert store.entered.wait(30)
    for thread in threads[1:]:
        thread.start()
    while len(group._pending) < len(batches) - 1:  # every other thread waits for the leader
        threading.Event().wait(0.001)
    store.release.set()
    for thread in threads:
        thread.join(30)
    return answers


def test_threads_that_arrive_while_one_writes_are_written_together() -> None:
    store = Store()
    group = GroupCommit(store.write)
    batches = [["a"], ["b", "c"], ["d"], ["e", "f", "g"]]
    answers = run_together(group, store, batches)
    assert answers == {0: ["A"], 1: ["B", "C"], 2: ["D"], 3: ["E", "F", "G"]}
    assert store.calls[0] == ["a"]
    assert sorted(store.calls[1]) == ["b", "c", "d", "e", "f", "g"] and len(store.calls) == 2
    assert group(["h"]) == ["H"]  # alone, it leads at once


def test_a_failed_write_is_raised_in_each_thread_of_its_group_only() -> None:
    store = Store(fail_on="c")
    group = GroupCommit(store.write)
    answers = run_together(group, store, [["a"], ["b"], ["c"]])
    assert answers[0] == ["A"]
    assert [str(answers[n]) for n in (1, 2)] == ["refused c", "refused c"]
    assert group(["d"]) == ["D"]  # the lead was handed back: the next write goes on
    with pytest.raises(RuntimeError, match="refused c"):
        group(["c"])
