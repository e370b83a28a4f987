"""Several Kairan hosts on one machine, for the multi-host test and the failover benchmark.

A host is a process tree of its own (a new PID, mount and UTS namespace: its own host name, and
its death takes every process in it at once) with a data folder of its own: the other hosts'
folders are hidden from it under empty tmpfs mounts. The hosts share only PostgreSQL, Redis and
the code, as machines of one deployment do. Each host sends through its own port of one SMTP
relay on loopback (a local MTA per machine), so every captured message says which host sent it,
and the relay can hold a host's messages in flight (stored, not yet answered) until it dies.

No pytest here: bench/failover.py runs from the runtime environment that make up builds.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from redis import Redis
from rq import Worker
from rq.exceptions import SchedulerNotFound
from rq.scheduler import RQScheduler
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from core.embedded import flask_command, web_argv
from core.queues import DEFAULT_QUEUE, QueueName
from mailer.capture import offer_pipelining
from mailer.queues import SEND_QUEUE, TX_QUEUE
from tests.resources import free_port, fresh_postgres

ROOT = Path(__file__).resolve().parents[1]
NAMESPACES = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--mount", "--uts"]
# The law's footer details, set on the web host only: workers must send what the campaign fixed at its start.
POSTAL_ADDRESS = "大阪市北区梅田1-2-3"
CONTACT = "info@hosts.example"
DOMAIN = "hosts.example"  # every recipient's: one per-domain limit paces the whole campaign


def namespaces_missing() -> str | None:
    """Say why hosts cannot be made here (not root, no unshare, namespaces refused), or None when they can."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    try:
        probe = subprocess.run([*NAMESPACES, "sh", "-c", "hostname probe && mount -t tmpfs probe /mnt"],
                               capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unshare could not run: {error}"
    if probe.returncode != 0:
        return f"PID, mount and UTS namespaces are refused here (needs root): {probe.stderr.strip()}"
    return None


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll until condition() returns something true and return it; TimeoutError naming ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return result


# The relay: a real SMTP server, one port per host --------------------------------------------------------


@dataclass(frozen=True)
class Captured:
    """One message as the relay received it, and from which host."""

    host: str
    recipient: str
    raw: bytes
    at: float  # time.monotonic() when it was stored

    @property
    def message(self) -> EmailMessage:
        """The parsed message."""
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        """Its Message-ID header."""
        return str(self.message["Message-ID"])

    def parts(self) -> list[str]:
        """Its text and HTML parts, decoded."""
        return [str(part.get_content()) for part in self.message.walk() if part.get_content_maintype() == "text"]


class _HostPort:
    """aiosmtpd handler of one host's port: stores each message, then answers, unless its host is held."""

    def __init__(self, relay: Relay, host: str) -> None:
        self.relay, self.host = relay, host

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        return offer_pipelining(session, hostname, responses)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        copies = [Captured(self.host, rcpt.lower(), envelope.original_content or b"", time.monotonic())
                  for rcpt in envelope.rcpt_tos]
        with self.relay.lock:
            self.relay.messages += copies
            held = self.host in self.relay.holding
            if held:
                self.relay.held += copies
        while held:  # stored but not answered: in flight, as when a host dies between DATA and its reply
            await asyncio.sleep(0.05)
            with self.relay.lock:
                held = self.host in self.relay.holding
        return "250 2.0.0 Message accepted"


class Relay:
    """Every message the hosts send, as received; ``hold(host)`` keeps that host's replies back."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Captured] = []
        self.held: list[Captured] = []
        self.holding: set[str] = set()
        self.controllers: list[Controller] = []

    def listen(self, host: str) -> str:
        """Open a port for one host; return the KAIRAN_SMTP_URL that host sends to."""
        port = free_port()
        controller = Controller(_HostPort(self, host), hostname="127.0.0.1", port=port, decode_data=False,
                                server_hostname=f"relay-for-{host}")
        controller.start()
        self.controllers.append(controller)
        return f"smtp://127.0.0.1:{port}"

    def hold(self, host: str) -> None:
        """Answer none of this host's messages until released: each of its connections keeps one in flight."""
        with self.lock:
            self.holding.add(host)

    def release(self, host: str) -> None:
        """Answer this host's held messages."""
        with self.lock:
            self.holding.discard(host)

    def held_from(self, host: str) -> list[Captured]:
        """The messages of this host that were held."""
        with self.lock:
            return [copy for copy in self.held if copy.host == host]

    def sent_by(self, host: str) -> list[Captured]:
        """Every message this host sent."""
        with self.lock:
            return [copy for copy in self.messages if copy.host == host]

    def copies(self) -> dict[str, list[Captured]]:
        """Every message received, by recipient."""
        found: dict[str, list[Captured]] = {}
        with self.lock:
            for copy in self.messages:
                found.setdefault(copy.recipient, []).append(copy)
        return found

    def close(self) -> None:
        """Stop every port (held replies are let go first)."""
        with self.lock:
            self.holding.clear()
        for controller in self.controllers:
            controller.stop()


# Hosts ---------------------------------------------------------------------------------------------------


def worker(*queues: QueueName, scheduler: bool = False) -> list[str]:
    """The argv of one RQ worker (on the named queues, else all) as an admin runs it."""
    return flask_command("worker", *(["--with-scheduler"] if scheduler else []), *queues)


@dataclass
class Host:
    """One machine: a name, a folder only it sees (its data folder inside), its settings and its processes."""

    name: str
    folder: Path
    env: dict[str, str]
    commands: dict[str, list[str]]  # label -> argv; each logs to <folder>/logs/<label>.log
    process: subprocess.Popen[bytes] | None = None
    died_at: float | None = None  # time.monotonic() of its death

    @property
    def data_dir(self) -> Path:
        """Its KAIRAN_DATA_DIR."""
        return Path(self.env["KAIRAN_DATA_DIR"])

    def start(self, hidden: Sequence[Path]) -> None:
        """Start its processes in namespaces of their own, with the ``hidden`` folders (other hosts') out of sight."""
        logs = self.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        lines = ["set -e", f"hostname {shlex.quote(self.name)}"]
        lines += [f"mount -t tmpfs -o size=1m hidden {shlex.quote(str(path))}" for path in hidden]
        lines += [f"{shlex.join(argv)} >{shlex.quote(str(logs / label))}.log 2>&1 &"
                  for label, argv in self.commands.items()]
        lines.append("wait")
        environment = {key: value for key, value in os.environ.items() if not key.startswith("KAIRAN_")}
        self.process = subprocess.Popen([*NAMESPACES, "sh", "-c", "\n".join(lines)], cwd=ROOT,
                                        env={**environment, **self.env, "PYTHONUNBUFFERED": "1"})

    def alive(self) -> bool:
        """Tell whether its process tree still runs."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> float:
        """Kill the whole tree at once, as a machine dies (its namespace's first process takes the rest along);
        return the time of death (time.monotonic())."""
        assert self.process is not None
        members = _descendants(self.process.pid)
        self.process.send_signal(signal.SIGKILL)  # unshare --kill-child: its child, PID 1 inside, dies too
        self.died_at = time.monotonic()
        self.process.wait(30)
        wait_until(lambda: not any(_running(pid) for pid in members), 30, f"every process of {self.name} to end")
        return self.died_at

    def logs(self) -> str:
        """Everything its processes wrote."""
        return "".join(f"--- {self.name}/{path.name}\n{path.read_text(errors='replace')}"
                       for path in sorted((self.folder / "logs").glob("*.log")))


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        try:
            children = [int(child) for task in Path(f"/proc/{parent}/task").iterdir()
                        for child in (task / "children").read_text().split()]
        except OSError:
            continue
        found.update(children)
        todo += children
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Deployment:
    """Hosts sharing one PostgreSQL database and one Redis, each sending through its port of ``relay``."""

    root: Path
    database_url: str
    redis_url: str
    relay: Relay
    settings: dict[str, str]  # what every host sets alike (KAIRAN_SEND_LEASE_SECONDS, …)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    web_port: int = field(default_factory=free_port)
    hosts: dict[str, Host] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """The web host's URL."""
        return f"http://127.0.0.1:{self.web_port}"

    def every_host_env(self) -> dict[str, str]:
        """The variables every host needs: the same database, Redis, secret key and public URL."""
        return {"KAIRAN_DATABASE_URL": self.database_url, "KAIRAN_REDIS_URL": self.redis_url,
                "KAIRAN_SECRET_KEY": self.secret_key, "KAIRAN_BASE_URL": self.base_url, **self.settings}

    def add(self, name: str, commands: dict[str, list[str]], **own: str) -> Host:
        """Describe a host: its folder, its relay port, the shared settings and its own (``own``)."""
        folder = self.root / "hosts" / name
        (folder / "data").mkdir(parents=True, exist_ok=True)
        env = {**self.every_host_env(), "KAIRAN_DATA_DIR": str(folder / "data"),
               "KAIRAN_SMTP_URL": self.relay.listen(name), **own}
        self.hosts[name] = Host(name, folder, env, commands)
        return self.hosts[name]

    def add_web(self, name: str, commands: dict[str, list[str]]) -> Host:
        """Describe the web host: gunicorn on the web port plus ``commands``, and the settings only it has."""
        return self.add(name, {"web": web_argv(self.web_port), **commands}, KAIRAN_PORT=str(self.web_port),
                        KAIRAN_POSTAL_ADDRESS=POSTAL_ADDRESS, KAIRAN_CONTACT=CONTACT,
                        KAIRAN_COMPANY_NAME="回覧ホスト商事")

    def run(self, host: str, *args: str) -> str:
        """Run a one-off ``flask --app app`` command with a host's settings (migrations, tokens); return its output."""
        environment = {key: value for key, value in os.environ.items() if not key.startswith("KAIRAN_")}
        done = subprocess.run(flask_command(*args), cwd=ROOT, env={**environment, **self.hosts[host].env},
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self, *names: str) -> None:
        """Start the named hosts (else all), each with the others' folders hidden."""
        for host in [self.hosts[name] for name in names] or self.hosts.values():
            host.start([other.folder for other in self.hosts.values() if other is not host])

    def stop(self) -> None:
        """Kill whatever still runs."""
        for host in self.hosts.values():
            if host.alive():
                host.kill()

    def logs(self) -> str:
        """Every host's logs, for a failure's message."""
        return "\n".join(host.logs() for host in self.hosts.values())


@contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """Make an empty database ``name`` on the server of server_url, yield its URL, and drop it after."""
    url = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield fresh_postgres(url.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def three_hosts(root: Path, database_url: str, redis_url: str, relay: Relay, **settings: str) -> Deployment:
    """The issue's deployment, migrated and not started: host A runs the web app and a worker that takes no
    imports, started without --with-scheduler; hosts B and C each run a worker on every queue, with it."""
    deployment = Deployment(root, database_url, redis_url, relay, {
        "KAIRAN_SEND_CONNECTIONS": "2", "KAIRAN_SEND_BATCH_SIZE": "25", "KAIRAN_RECONCILE_SECONDS": "2",
        "KAIRAN_DOMAIN_LIMITS": f"{DOMAIN}=600", **settings})
    deployment.add_web("host-a", {"worker": worker(TX_QUEUE, DEFAULT_QUEUE, SEND_QUEUE)})
    deployment.add("host-b", {"worker": worker(scheduler=True)})
    deployment.add("host-c", {"worker": worker(scheduler=True)})
    deployment.run("host-a", "db", "upgrade")
    return deployment


def start_three_hosts(deployment: Deployment, timeout: float = 300) -> None:
    """Start B and C, and A once a scheduler on B or C is active (so the first to die can be the scheduler's host);
    return when the web app answers and each host's worker is there."""
    connection = Redis.from_url(deployment.redis_url)
    deployment.start("host-b", "host-c")
    wait_until(lambda: active_scheduler_host(connection), timeout, "a scheduler on host B or C")
    deployment.start("host-a")
    wait_until(lambda: {worker.hostname for worker in Worker.all(connection=connection)} ==
               {"host-a", "host-b", "host-c"}, timeout, "a worker on each host")
    wait_until(lambda: _answers(deployment.base_url + "/api/health"), timeout, "the web app")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# Talking to it -------------------------------------------------------------------------------------------


class Api:
    """Kairan's REST API on the web host, as an API user."""

    def __init__(self, base_url: str, user_and_token: str) -> None:
        self.base_url, self.auth = base_url, f"token {user_and_token}"

    def call(self, method: str, path: str, body: Any = None, *, files: dict[str, tuple[str, bytes]] | None = None,
             fields: dict[str, str] | None = None) -> tuple[int, Any]:
        """Send one request (JSON, or multipart with ``files`` and ``fields``); return the status and the JSON."""
        headers = {"Authorization": self.auth}
        data = None
        if files is not None:
            data, headers["Content-Type"] = _multipart(fields or {}, files)
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """Send one request that must succeed; return its ``data``."""
        status, answer = self.call(method, path, body, **kwargs)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}: {answer}")
        return answer["data"]


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
              f"Content-Type: text/csv\r\n\r\n".encode() + content + b"\r\n"
              for name, (filename, content) in files.items()]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def api_user(deployment: Deployment, host: str = "host-a") -> Api:
    """Create an API user with the CLI on a host, as an admin does; return the API as that user."""
    printed = deployment.run(host, "tokens", "create", f"hosts-{uuid.uuid4().hex[:6]}", "--role", "admin")
    return Api(deployment.base_url, printed.strip().splitlines()[-1])


def new_list(api: Api, name: str) -> int:
    """Create a single opt-in list through the API; return its id."""
    return int(api.ok("POST", "/api/lists", {"name": name, "type": "private", "optin": "single"})["id"])


def paced_campaign(api: Api, recipients: int) -> tuple[int, list[str]]:
    """Add ``recipients`` subscribers to a new list through the web host's API, and a draft campaign to it whose
    footer shows the sender's details; return its id and the addresses."""
    list_id = new_list(api, f"readers-{uuid.uuid4().hex[:6]}")
    addresses = [f"reader{n}@{DOMAIN}" for n in range(recipients)]

    def add(address: str) -> Any:
        return api.ok("POST", "/api/subscribers", {"email": address, "name": address.partition("@")[0],
                                                   "lists": [list_id], "preconfirm_subscriptions": True})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, addresses))
    campaign = api.ok("POST", "/api/campaigns", {
        "name": "hosts", "subject": "{{ subscriber.name }}さん、お知らせです", "lists": [list_id],
        "from_email": f"回覧ホスト商事 <news@{DOMAIN}>", "content_type": "html",
        "body": '<p>{{ subscriber.name }}さん、こんにちは。</p><p><a href="{{ unsubscribe_url }}">配信停止</a></p>'})
    return int(campaign["id"]), addresses


def active_scheduler_host(redis: Redis) -> str | None:
    """The host whose scheduler holds the send queue's lock (it releases deferred batches), or None."""
    owner = redis.get(RQScheduler.get_locking_key(SEND_QUEUE))
    if owner is None:
        return None
    name = owner.decode() if isinstance(owner, bytes) else str(owner)
    try:
        return RQScheduler.fetch(name, connection=redis).hostname
    except SchedulerNotFound:  # its record lapsed: a scheduler named after its worker still says its host
        return name.rpartition(".")[0] or None


class Deliveries:
    """A campaign's delivery rows, read straight from the shared database."""

    def __init__(self, database_url: str, campaign_id: int) -> None:
        self.engine: Engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
        self.campaign_id = campaign_id

    def ids(self, status: str) -> set[int]:
        """The deliveries in one state (queued, sending, sent, failed, suppressed)."""
        with self.engine.connect() as connection:
            return set(connection.scalars(text("SELECT id FROM deliveries WHERE campaign_id = :c AND status = :s"),
                                          {"c": self.campaign_id, "s": status}))

    def counts(self) -> dict[str, int]:
        """How many deliveries are in each state."""
        with self.engine.connect() as connection:
            rows = connection.execute(text("SELECT status, count(*) FROM deliveries WHERE campaign_id = :c "
                                           "GROUP BY status"), {"c": self.campaign_id})
            return {str(status): int(count) for status, count in rows}

    def sent_to(self) -> set[str]:
        """The addresses whose delivery is recorded as sent."""
        with self.engine.connect() as connection:
            return {str(email).lower() for email in connection.scalars(text(
                "SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
                "WHERE d.campaign_id = :c AND d.status = 'sent'"), {"c": self.campaign_id})}

    def message_ids(self) -> dict[str, str]:
        """Recipient address -> the Message-ID recorded for the sent message."""
        with self.engine.connect() as connection:
            rows = connection.execute(text("SELECT s.email, d.message_id FROM deliveries d JOIN subscribers s "
                                           "ON s.id = d.subscriber_id WHERE d.campaign_id = :c"),
                                      {"c": self.campaign_id})
            return {str(email).lower(): str(message_id) for email, message_id in rows}

    def campaign_status(self) -> str:
        """The campaign's state."""
        with self.engine.connect() as connection:
            return str(connection.scalar(text("SELECT status FROM campaigns WHERE id = :c"), {"c": self.campaign_id}))

    def close(self) -> None:
        """Close the connections."""
        self.engine.dispose()


# A host's death mid-send ---------------------------------------------------------------------------------


@dataclass
class Death:
    """What a host had in hand when it died: the rows leased then and the messages it had in flight."""

    host: str
    at: float  # time.monotonic()
    leased: set[int]  # deliveries in ``sending`` at its death (its own among them)
    in_flight: list[Captured]  # stored by the relay, their rows not recorded sent

    def resent_after(self, relay: Relay) -> float | None:
        """Seconds from the death until every in-flight message had arrived again, or None while one has not."""
        again = []
        copies = relay.copies()
        for held in self.in_flight:
            later = [copy.at for copy in copies.get(held.recipient, []) if copy.at > self.at]
            if not later:
                return None
            again.append(min(later))
        return max(again, default=self.at) - self.at

    def rows_back_after(self, deliveries: Deliveries) -> float | None:
        """Seconds from the death until every row leased at it had been sent, or None while one has not."""
        if self.leased - deliveries.ids("sent"):
            return None
        return time.monotonic() - self.at


def kill_mid_send(deployment: Deployment, host: str, deliveries: Deliveries, timeout: float = 60) -> Death:
    """Hold the host's replies until it has a message in flight, then kill its whole process tree.

    In flight at its death: every message the relay has from it whose delivery was not recorded sent. The held
    ones are; so may be one answered just before the hold whose record had not reached the database.
    """
    relay = deployment.relay
    relay.hold(host)
    try:
        wait_until(lambda: relay.held_from(host), timeout, f"a message in flight from {host}")
        leased = deliveries.ids("sending")
        at = deployment.hosts[host].kill()
        recorded = deliveries.sent_to()  # final for the dead host; nobody else can claim its rows before the lease ends
    finally:
        relay.release(host)  # its connections are gone: nothing is answered any more
    in_flight = [copy for copy in relay.sent_by(host) if copy.recipient not in recorded]
    return Death(host, at, leased, in_flight)
