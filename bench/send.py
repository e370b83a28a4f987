"""Benchmark: a campaign to N recipients end to end, against a minimal send loop on the same sink.

Seeds a new data folder with N subscribers (bench/audience.py's seed), adds a sending domain
(RSA-2048), and sends ``../shared/testdata/newsletter/weekly.html`` personalised, tracked and
signed through W real ``flask worker`` processes to a sink on loopback (bench/sink.py), timed
from the start (materialising included) to "finished". The floor is the same number of messages
built by a bare loop in the same script: the name put in by ``str.replace``, the same hand-built
MIME and DKIM signer, ``smtplib`` over the same number of connections (W processes × C threads),
with no database, queue or tracking. Prints one JSON line, last:
{"messages","seconds","msg_per_s","floor_msg_per_s","ratio","duplicates","lost","peak_worker_rss_mb", …},
with the CPU time each side's own processes spent per message ("cpu_ms_per_msg" for the workers,
"floor_cpu_ms_per_msg"): unlike the rates, it hardly moves when other work shares the machine.
Run: .venv/bin/python -m bench.send --recipients 100000 [--workers W] [--connections C]
     [--relay-latency-ms L] [--database-url URL] [--newsletter PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import smtplib
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from email.utils import make_msgid
from pathlib import Path
from queue import Empty, SimpleQueue

from flask import Flask
from redis import Redis
from rq import Worker
from sqlalchemy import select

from app import create_app
from bench import scratch_folder
from bench.audience import LISTS, seed
from bench.cpu import children_seconds
from bench.sink import Sink
from core.db import db
from core.embedded import private_redis
from lists.models import Subscriber
from mailer import sending
from mailer.compiler import compile_message
from mailer.domains import add_domain, signer_for
from mailer.mime import build, mailbox
from mailer.models import Campaign, CampaignStatus, ContentType
from mailer.signing import DKIMSigner
from mailer.template_context import reader_context
from tests.resources import fresh_postgres

ROOT = Path(__file__).resolve().parents[1]
NEWSLETTER = ROOT.parent / "shared" / "testdata" / "newsletter" / "weekly.html"
# The newsletter's own names onto Kairan's personalisation context.
NAMES = {"{{ first_name }}": "{{ subscriber.first_name }}", "{{ last_name }}": "{{ subscriber.last_name }}",
         "{{ city }}": "{{ subscriber.attribs.city }}", "{{ member_since }}": "{{ subscriber.attribs.member_since }}",
         "{{ email }}": "{{ subscriber.email }}",
         # its footer's own link becomes Kairan's per-reader one (the law's way to refuse mail)
         "https://news.example.com/unsubscribe": "{{ unsubscribe_url }}"}
SENDER = "Kairan Weekly <news@kairan.example>"
PLACEHOLDER = "NAMEPLACEHOLDER"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    """Seed, run the floor, run Kairan, compare."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--connections", type=int, default=8, help="SMTP connections per worker")
    parser.add_argument("--relay-latency-ms", type=float, default=0)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--newsletter", type=Path, default=NEWSLETTER)
    args = parser.parse_args()
    if not args.newsletter.is_file():
        sys.exit(f"{args.newsletter} is missing: pass --newsletter PATH (an HTML newsletter).")
    folder = scratch_folder("send")
    sink = Sink(free_port(), args.relay_latency_ms, folder)
    sink.start()
    sink_name = sink.kind + (" behind a delay proxy" if sink.proxy is not None else "")
    try:
        with private_redis(folder / "redis") as redis_url:
            database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
            env = {"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database, "KAIRAN_REDIS_URL": redis_url,
                   "KAIRAN_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
                   # one key for the app and its workers, as a deployment's hosts share one (on PostgreSQL a
                   # worker refuses to start without it)
                   "KAIRAN_SECRET_KEY": secrets.token_hex(32),
                   "KAIRAN_SEND_CONNECTIONS": str(args.connections),
                   # the law's footer details: Kairan sends no campaign without them
                   "KAIRAN_POSTAL_ADDRESS": "大阪市北区1-2-3", "KAIRAN_CONTACT": "info@kairan.example"}
            app = create_app(env)
            with app.app_context():
                seed(args.recipients)
                add_domain("kairan.example")
                body = args.newsletter.read_text()
                for theirs, ours in NAMES.items():
                    body = body.replace(theirs, ours)
                campaign = Campaign(name="bench", subject="{{ subscriber.first_name }}さん、今週のお知らせ",
                                    content_type=ContentType.HTML, body=body, lists=list(range(1, LISTS + 1)),
                                    from_email=SENDER)
                db.session.add(campaign)
                db.session.commit()
                campaign_id = campaign.id
                floor, floor_cpu_ms_per_msg = floor_run(campaign, args, sink)
            result = kairan_run(app, campaign_id, env, args, sink)
    finally:
        sink.close()
    print(json.dumps({
        "benchmark": "send", "database": result.pop("database"),
        "sink": sink_name, "workers": args.workers,
        "connections_per_worker": args.connections, "relay_latency_ms": args.relay_latency_ms, **result,
        "floor_msg_per_s": floor, "floor_cpu_ms_per_msg": floor_cpu_ms_per_msg,
        "ratio": round(float(result["msg_per_s"]) / floor, 2) if floor else None,
        "targets": {"msg_per_s": 300 if args.relay_latency_ms else 500, "ratio": 0.7, "peak_worker_rss_mb": 200},
    }))


# The floor: the least a send can do -----------------------------------------------------------------


def floor_run(campaign: Campaign, args: argparse.Namespace, sink: Sink) -> tuple[float, float]:
    """Send the same number of messages with a bare loop; return messages a second and CPU ms per message."""
    compiled = compile_message(campaign.body, None, None, campaign.subject)
    context = reader_context(campaign, Subscriber(id=1, uuid="x", email="x@example.jp", name=f"{PLACEHOLDER} 様",
                                                  attribs={"city": "大阪"}))
    html, text = compiled.render(context)
    subject = compiled.render_subject(context)
    signer = signer_for("news@kairan.example")
    work = (html, text, subject, signer)
    processes = [multiprocessing.get_context("fork").Process(
        target=_floor_process, args=(work, sink.port, range(n, args.recipients, args.workers), args.connections))
        for n in range(args.workers)]
    started, cpu = time.perf_counter(), children_seconds()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    floor_cpu_ms_per_msg = round(1000 * (children_seconds() - cpu) / args.recipients, 2)
    arrived = sum(sink.counts().values())
    sink.clear()
    if arrived != args.recipients:
        raise RuntimeError(f"the floor delivered {arrived} of {args.recipients}")
    return round(args.recipients / seconds, 1), floor_cpu_ms_per_msg


def _floor_process(work: tuple[str, str, str, DKIMSigner | None], port: int, numbers: range,
                   connections: int) -> None:
    todo: SimpleQueue[int] = SimpleQueue()
    for number in numbers:
        todo.put(number)
    threads = [threading.Thread(target=_floor_connection, args=(work, port, todo)) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _floor_connection(work: tuple[str, str, str, DKIMSigner | None], port: int, todo: SimpleQueue[int]) -> None:
    html, text, subject, signer = work
    with smtplib.SMTP("127.0.0.1", port) as connection:
        while True:
            try:
                number = todo.get_nowait()
            except Empty:
                return
            name, address = f"会員{number}", f"floor{number}@example.jp"
            built = build(from_=mailbox("Kairan Weekly", "news@kairan.example"), to=mailbox(name, address),
                          subject=subject.replace(PLACEHOLDER, name), text=text.replace(PLACEHOLDER, name),
                          html=html.replace(PLACEHOLDER, name), message_id=make_msgid(domain="kairan.example"),
                          date=datetime.now(UTC), signer=signer)
            connection.sendmail("bounce@kairan.example", [address], built.as_bytes())


# Kairan: real workers, end to end ---------------------------------------------------------------------


def kairan_run(app: Flask, campaign_id: int, env: dict[str, str], args: argparse.Namespace,
               sink: Sink) -> dict[str, float | int | str]:
    """Start W workers, send the campaign, and count what arrived."""
    logs = Path(env["KAIRAN_DATA_DIR"])
    workers = [subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker", "send", "default"], cwd=ROOT,
        env={**os.environ, **env}, stdout=(logs / f"worker-{n}.log").open("wb"), stderr=subprocess.STDOUT)
        for n in range(args.workers)]
    peak, cpu = PeakRSS([worker.pid for worker in workers]), children_seconds()
    try:
        connection = Redis.from_url(env["KAIRAN_REDIS_URL"])
        while len(Worker.all(connection=connection)) < args.workers:
            time.sleep(0.1)
        peak.start()
        with app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign is not None
            started = time.perf_counter()
            sending.change_status(campaign, "running")
            while db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) != \
                    CampaignStatus.FINISHED:
                time.sleep(0.2)
                db.session.rollback()  # a fresh snapshot each look
            seconds = time.perf_counter() - started
            expected = {email.lower() for email in db.session.scalars(select(Subscriber.email))}
            database = db.engine.dialect.name
    finally:
        peak.stop()
        for worker in workers:
            worker.terminate()
            worker.wait(30)
    worker_cpu = children_seconds() - cpu  # the workers' whole lives, start-up included
    arrived = sink.counts()
    return {"database": database, "messages": sum(arrived.values()), "seconds": round(seconds, 2),
            "msg_per_s": round(len(expected) / seconds, 1),
            "duplicates": sum(count - 1 for count in arrived.values() if count > 1),
            "lost": sum(1 for address in expected if arrived[address] == 0),
            "peak_worker_rss_mb": round(peak.peak_kb / 1024, 1),
            "cpu_ms_per_msg": round(1000 * worker_cpu / len(expected), 2)}


class PeakRSS(threading.Thread):
    """Samples the resident memory of the worker processes and their work horses; keeps the largest."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak_kb, self.done = pids, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            for pid in self._family():
                self.peak_kb = max(self.peak_kb, _rss_kb(pid))

    def stop(self) -> None:
        self.done.set()

    def _family(self) -> list[int]:
        found, todo = [], list(self.pids)
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                todo += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except OSError:
                continue
        return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    main()
