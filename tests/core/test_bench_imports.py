"""Benchmarks run from the runtime environment (make up's), where pytest is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_imports_without_pytest() -> None:
    modules = sorted(f"bench.{path.stem}" for path in (ROOT / "bench").glob("*.py") if path.stem != "__init__")
    # None in sys.modules makes `import pytest` fail as it does where pytest is not installed.
    script = "import importlib, sys\nsys.modules['pytest'] = None\n" + "".join(
        f"importlib.import_module({name!r})\n" for name in modules)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
