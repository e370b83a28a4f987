"""`flask --app app up`: the whole embedded stack as a subprocess, as a user starts it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PASSWORD
from tests.resources import free_ports

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def children_of(pid: int) -> set[int]:
    """Return every descendant process id of pid (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def argv(pid: int) -> list[str]:
    """Return a process's command line as a list."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


def direct_workers(pid: int) -> set[int]:
    """Return the RQ worker processes the supervisor started itself."""
    return {child for child in children_of(pid) if "worker" in argv(child) and os.getppid() != child
            and Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid)}


def process_group(pid: int) -> int:
    """Return the process group id of a process (0 when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except OSError:
        return 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KAIRAN_")}
    web, capture, bounce = free_ports(3)
    return {
        **env,
        "KAIRAN_DATA_DIR": str(tmp_path / "data"),
        "KAIRAN_PORT": str(web),
        "KAIRAN_CAPTURE_PORT": str(capture),
        "KAIRAN_BOUNCE_PORT": str(bounce),
        "KAIRAN_WORKERS": "2",
        "KAIRAN_ADMIN_USER": "boss",
        "KAIRAN_ADMIN_PASSWORD": PASSWORD,
    }


@pytest.fixture
def kairan_up(embedded_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run `flask --app app up` and yield it with its base URL once /api/health answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "up"], cwd=ROOT, env=embedded_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{embedded_env['KAIRAN_PORT']}"

    def healthy() -> bool:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            return get_json(f"{base}/api/health")[1] == {"data": True}
        except OSError:
            return False

    try:
        wait_for(healthy, 60, "Kairan to answer /api/health")
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_up_runs_everything_restarts_a_killed_worker_and_stops_cleanly(
    kairan_up: tuple[subprocess.Popen[str], str], embedded_env: dict[str, str]
) -> None:
    process, base = kairan_up
    # A token made with the CLI reads the lists in listmonk's envelope (and the health details).
    token_run = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "tokens", "create", "crm", "--role", "viewer"],
        cwd=ROOT, env=embedded_env, capture_output=True, text=True, check=True, timeout=60,
    )
    auth = {"Authorization": f"token {token_run.stdout.strip().splitlines()[-1]}"}
    status, body = get_json(f"{base}/api/lists", auth)
    assert status == 200 and body["data"]["results"] == [] and body["data"]["per_page"] == 20
    assert get_json(f"{base}/api/lists", {"Authorization": "token crm:wrong"})[0] == 403

    def workers() -> dict[str, Any]:
        return get_json(f"{base}/api/health/detail", auth)[1]["data"]["components"]["workers"]

    wait_for(lambda: workers()["detail"] == "2", 20, "two workers alive")
    # A reader's pixel request is logged without the reader's address or user agent (KAIRAN_TRACK_IP's business).
    with urllib.request.urlopen(urllib.request.Request(f"{base}/o/1-0123456789abcdef.gif",
                                                       headers={"User-Agent": "ReaderMail/1.0"}), timeout=5):
        pass
    access_log = Path(embedded_env["KAIRAN_DATA_DIR"]) / "access.log"
    wait_for(lambda: "/o/1-0123456789abcdef.gif" in access_log.read_text(), 10, "the request in the access log")
    assert "127.0.0.1" not in access_log.read_text() and "ReaderMail" not in access_log.read_text()
    status, detail = get_json(f"{base}/api/health/detail", auth)
    assert status == 200 and all(c["ok"] for c in detail["data"]["components"].values())

    # SIGKILL the worker whose scheduler releases the scheduled jobs (a child process of its own):
    # a new worker is alive within 10 s, and the killed one is not counted.
    everything = children_of(process.pid)
    holder = get_json(f"{base}/api/health/detail", auth)[1]["data"]["components"]["scheduler"]["detail"]
    victim = int(holder.rpartition(".")[2])  # the worker's name is host.pid
    assert victim in direct_workers(process.pid)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()

    def replaced() -> bool:
        pids = direct_workers(process.pid)
        return victim not in pids and len(pids) == 2 and workers()["detail"] == "2"

    wait_for(replaced, 10, "the killed worker to be replaced")
    assert time.monotonic() - killed_at < 10
    # Nothing the killed worker had started (RQ's scheduler process) lives on as an orphan.
    assert [pid for pid in everything if alive(pid) and process_group(pid) == victim] == []

    # SIGTERM stops every child, then the supervisor itself, with exit code 0.
    everything |= children_of(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    output = process.stdout.read() if process.stdout else ""
    assert "Kairan is running at " + base in output
    assert "Log in as 'boss'" in output
    assert "restarting it" in output
    assert [pid for pid in everything if alive(pid)] == []


# The web's port is core's; the capture and bounce servers' are checked as mailer and tracking register them.
@pytest.mark.parametrize("setting", ["KAIRAN_PORT", "KAIRAN_CAPTURE_PORT", "KAIRAN_BOUNCE_PORT"])
def test_port_in_use_is_one_line_and_starts_nothing(embedded_env: dict[str, str], setting: str) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(embedded_env[setting])))
        blocker.listen()
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "up"], cwd=ROOT, env=embedded_env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        seen_children: set[int] = set()
        while process.poll() is None:
            seen_children |= children_of(process.pid)
            time.sleep(0.05)
        _out, err = process.communicate()
    assert process.returncode == 1
    assert err.strip() == (f"Error: Port {embedded_env[setting]} on 127.0.0.1 is already in use; "
                           f"set {setting} to a free port.")
    assert seen_children == set()
