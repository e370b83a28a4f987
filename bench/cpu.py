"""CPU time the benchmarks read off Linux's /proc: what a path costs, which swings less with the machine's other
load than a rate does."""

from __future__ import annotations

import os
import resource
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from core.db import db


def _stat(pid: int) -> list[str]:
    """A process's /proc/PID/stat fields after its name (empty once it ended, or on another machine)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (gunicorn's workers, say)."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in pids if (fields := _stat(pid)) and int(fields[1]) == parent]


def process_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process so far (fields 14 and 15 of /proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    return {pid: (int(fields[11]) + int(fields[12])) / ticks for pid in pids if (fields := _stat(pid))}


def own_seconds() -> float:
    """CPU seconds of this process and its children that have ended (wrk, once it exited)."""
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def children_seconds() -> float:
    """CPU seconds of this process's children that have ended, so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def postgres_backends(since: datetime | None = None) -> list[int]:
    """The PostgreSQL server processes serving the app's database now (in an app context); ``since``: only those
    that started then or later (another process's connections, say)."""
    return list(db.session.scalars(text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_start >= coalesce(CAST(:since AS timestamptz), '-infinity')"), {"since": since}))
