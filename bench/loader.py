"""Load from Python threads, for a machine without wrk: keep-alive connections, one request after another."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# One request on a thread's connection: (connection, thread number, request number) → answered as hoped.
Send = Callable[[http.client.HTTPConnection, int, int], bool]


@dataclass(frozen=True)
class Load:
    """What a load generator measured: answered requests, over how long, the p99 latency, and the failures."""

    generator: str
    answered: int
    seconds: float
    p99_ms: float
    errors: int


def threaded_load(port: int, connections: int, seconds: float, send: Send, per_thread: int | None = None) -> Load:
    """Run ``send`` on ``connections`` threads until ``seconds`` pass (or each has sent ``per_thread``)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(thread: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        mine: list[float] = []
        number = 0
        while time.monotonic() < deadline and (per_thread is None or number < per_thread):
            started = time.perf_counter()
            try:
                ok = send(connection, thread, number)
            except OSError:  # the server closed the connection: a new one, and this request counts as failed
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                ok = False
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                with lock:
                    errors[0] += 1
            number += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    return Load("python", len(latencies), elapsed, p99, errors[0])
