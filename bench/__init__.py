"""Benchmarks, each printing its figures as one JSON line, last (see the README)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def scratch_folder(name: str) -> Path:
    """Return a new temporary data folder, removed when the benchmark exits (KAIRAN_BENCH_KEEP=1 keeps it)."""
    folder = Path(tempfile.mkdtemp(prefix=f"kairan-bench-{name}-"))
    if not os.environ.get("KAIRAN_BENCH_KEEP"):
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # a 1M-row run leaves ~0.6 GB otherwise
    return folder

