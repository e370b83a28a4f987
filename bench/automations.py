"""Benchmark: the automation engine at 1,000,000 waiting runs: steps a second, sends against a campaign's, trigger
to inbox, a worker killed mid-wake.

Seeds a new data folder with --subscribers subscribers (bench/audience.py's seed, all with city 大阪), a sending
domain (RSA-2048), and four active automations, then measures, in order:

1. ``steps_per_s``: automation "bulk" (wait 1 day → condition on attribs.city → wait 30 days) gets --runs waiting
   runs inserted with one INSERT … SELECT, a tenth of them (--due) at the first wait, entered two days ago and due
   now, the rest at the 30-day wait. The due ones are woken by ``automations.engine.wake`` called in this process
   (no worker runs yet) until none is due; steps taken ÷ seconds. Each due run takes 3 steps (wait, condition,
   wait).
2. ``send_ratio``: W real ``flask worker`` processes against an SMTP sink (bench/sink.py, smtp-sink), as in
   bench/send.py, with the same newsletter (``../shared/testdata/newsletter/weekly.html``) in the default layout,
   personalised, tracked and signed on both sides. First a plain campaign to --send subscribers (a list of their
   own), timed from "running" until the sink holds the last message (each dump file's mtime is when the sink
   accepted it); then --send runs of automation "send" parked at its send step are made due at once and a wake
   queued, timed the same way. ``send_ratio`` = automation msg/s ÷ campaign msg/s.
3. ``trigger_to_send_p95_s``: all workers but one stopped (an idle embedded instance: one worker, the periodic wake
   at its default); --events ``purchase`` events posted one by one (--event-gap-ms apart) through the events API
   (Flask's test client in this process) for automation "trigger", whose first step is a send; for each, the
   seconds from the POST to the sink accepting that recipient's message. p50, p95, max.
4. Kill test: W workers again; --kill runs of automation "kill" parked at its send step are made due and a wake
   queued; as soon as one of its batches has committed and another is claimed but not yet moved, the worker (and
   its work horse) running the wake is SIGKILLed, and a new worker started in its place. Once the survivors have
   sent what was committed, the movable clock (KAIRAN_MOVABLE_CLOCK, core/clock.py) is moved past the claim's
   lapse (engine.CLAIM_SECONDS) and a wake queued. ``duplicates`` are messages received more than once per run
   (each kill-phase recipient has one run), ``lost`` runs past the send step whose recipient received nothing,
   ``stuck`` runs still at the send step when the benchmark gave up waiting, ``in_flight_at_kill`` the runs
   claimed and deliveries being sent at the kill.
5. ``peak_worker_rss_mb``: the largest resident size of any worker or work horse, sampled through 2-4.

Prints one JSON line, last: {"runs","steps_per_s","send_ratio","trigger_to_send_p95_s","duplicates","lost",
"peak_worker_rss_mb", …} with the load average at the start and the end.
Run: .venv/bin/python -m bench.automations [--runs 1000000] [--due N] [--send 5000] [--events 200] [--kill 3000]
     [--workers 2] [--subscribers 100000] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from redis import Redis
from rq import Worker
from sqlalchemy import bindparam, func, select, text, update

from app import create_app
from automations import engine
from automations.lifecycle import activate, create_automation, new_message
from automations.models import Run, RunState
from bench import scratch_folder
from bench.audience import seed
from bench.send import NAMES, NEWSLETTER, SENDER, PeakRSS, free_port
from bench.sink import Sink
from core import clock
from core.db import UTCDateTime, db, utcnow
from core.embedded import private_redis
from core.users import create_api_user
from mailer import sending
from mailer.domains import add_domain
from mailer.layouts import default_template
from mailer.models import Campaign, ContentType, Delivery, DeliveryStatus
from tests.resources import fresh_postgres

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"steps_per_s": 10000, "send_ratio": 0.8, "trigger_to_send_p95_s": 5, "duplicates": "<= in flight",
           "lost": 0, "peak_worker_rss_mb": 200}
CITY_RULE = {"match": "all", "rules": [{"field": "attribs.city", "op": "eq", "value": "大阪"}]}
LIST_ID = 6  # the campaign's own list (bench.audience makes lists 1-5)
WAIT_SECONDS = float(os.environ.get("KAIRAN_BENCH_WAIT", "300"))  # a phase not done by then is reported as it stands
SETTLED = 0.05

RUNS_SELECT = """
INSERT INTO automation_runs (automation_id, version_id, subscriber_id, entry_key, state, step, step_entered_at,
                             next_wake_at, trigger, entered_at)
SELECT :automation, :version, :first + (i % :subscribers), 'b' || i, 'waiting',
       CASE WHEN i <= :due THEN :due_step ELSE :later_step END,
       CASE WHEN i <= :due THEN :entered ELSE :now END,
       CASE WHEN i <= :due THEN :due_at ELSE :later_at END, '{}', :entered FROM n
"""
NUMBERS = {"sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) ",
           "postgresql": "WITH n(i) AS (SELECT generate_series(1, :count)) "}


def main() -> None:
    """Seed, then measure each part in turn."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=0, help="runs due now among --runs (default: a tenth)")
    parser.add_argument("--send", type=int, default=5000, help="messages of the send-step and campaign runs")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--event-gap-ms", type=float, default=100)
    parser.add_argument("--kill", type=int, default=3000, help="runs at the send step in the kill test")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    # bench.send's newsletter; from a git worktree beside the main checkout, the one beside that checkout
    beside = ROOT.parents[1] / "shared" / "testdata" / "newsletter" / "weekly.html"
    parser.add_argument("--newsletter", type=Path, default=NEWSLETTER if NEWSLETTER.is_file() else beside)
    args = parser.parse_args()
    if not args.newsletter.is_file():
        sys.exit(f"{args.newsletter} is missing: pass --newsletter PATH (an HTML newsletter).")
    args.due = args.due or args.runs // 10
    needed = 2 * args.send + args.events + args.kill
    if args.subscribers < needed:
        sys.exit(f"--subscribers must be at least {needed} (2 × --send + --events + --kill)")
    load_start = os.getloadavg()
    folder = scratch_folder("automations")
    sink = Sink(free_port(), 0, folder)
    if sink.kind != "smtp-sink":
        sys.exit("bench.automations times each message by its smtp-sink dump: install Postfix's smtp-sink.")
    sink.start()
    result: dict[str, Any] = {}
    try:
        with private_redis(folder / "redis") as redis_url:
            database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
            env = {"KAIRAN_DATA_DIR": str(folder), "KAIRAN_DATABASE_URL": database, "KAIRAN_REDIS_URL": redis_url,
                   "KAIRAN_SMTP_URL": f"smtp://127.0.0.1:{sink.port}", "KAIRAN_SECRET_KEY": secrets.token_hex(32),
                   "KAIRAN_MOVABLE_CLOCK": "true",  # the kill test moves it past the claims' lapse
                   "KAIRAN_POSTAL_ADDRESS": "大阪市北区1-2-3", "KAIRAN_CONTACT": "info@kairan.example"}
            app = create_app(env)
            bench = Bench(app, env, args, sink)
            started = time.perf_counter()
            bench.seed()
            result["seed_seconds"] = round(time.perf_counter() - started, 1)
            result.update(bench.steps())
            try:
                result.update(bench.sends())
                result.update(bench.trigger_to_send())
                result.update(bench.kill_test())
            finally:
                bench.stop_workers()
            result["peak_worker_rss_mb"] = round(bench.peak.peak_kb / 1024, 1)
    finally:
        sink.close()
    print(json.dumps({"benchmark": "automations", "database": result.pop("database"), "runs": args.runs,
                      "due": args.due, "subscribers": args.subscribers, "workers": args.workers, **result,
                      "load_avg_start": [round(x, 2) for x in load_start],
                      "load_avg_end": [round(x, 2) for x in os.getloadavg()], "targets": TARGETS}))


class Bench:
    """The app, its workers and the sink, and what each part measured."""

    def __init__(self, app: Flask, env: dict[str, str], args: argparse.Namespace, sink: Sink) -> None:
        self.app, self.env, self.args, self.sink = app, env, args, sink
        self.workers: list[subprocess.Popen[bytes]] = []
        self.peak = PeakRSS([])
        self.redis = Redis.from_url(env["KAIRAN_REDIS_URL"])
        self.read: dict[str, int] = {}  # bytes of each sink dump already counted
        self.automations: dict[str, tuple[int, int, int | None]] = {}  # name -> (automation, version, message)
        # Subscriber ids of each part: campaign, send step, events, kill test (bench.audience numbers them from 1).
        send, events = args.send, args.events
        self.ranges = {"campaign": range(1, send + 1), "send": range(send + 1, 2 * send + 1),
                       "trigger": range(2 * send + 1, 2 * send + events + 1),
                       "kill": range(2 * send + events + 1, 2 * send + events + args.kill + 1)}

    # Seeding -------------------------------------------------------------------------------------------------

    def seed(self) -> None:
        """Subscribers, the campaign and its list, the four automations, and the runs."""
        args = self.args
        with self.app.app_context():
            seed(args.subscribers)
            add_domain("kairan.example")
            body = self.args.newsletter.read_text()
            for theirs, ours in NAMES.items():
                body = body.replace(theirs, ours)
            self.body = body
            db.session.execute(text("INSERT INTO lists (uuid, name, type, optin, status, tags, description, "
                                    "created_at, updated_at) VALUES ('list-bench', 'campaign', 'private', "
                                    "'single', 'active', '[]', '', '2026-01-01', '2026-01-01')"))
            db.session.execute(text(
                "INSERT INTO subscriptions (subscriber_id, list_id, status, meta, created_at, updated_at) "
                "SELECT id, :list, 'confirmed', '{}', created_at, created_at FROM subscribers WHERE id <= :last"),
                {"list": LIST_ID, "last": args.send})
            # In the default layout, as the editor makes a campaign and as new_message makes the send step's:
            # both sides send the same mail.
            campaign = Campaign(name="bench campaign", subject="{{ subscriber.first_name }}さん、今週のお知らせ",
                                content_type=ContentType.HTML, body=body, lists=[LIST_ID], from_email=SENDER,
                                template=default_template())
            db.session.add(campaign)
            db.session.commit()
            self.campaign_id = campaign.id
            self.automations["bulk"] = self._automation("bulk", {"kind": "manual"}, {
                "wait": {"type": "wait", "mode": "duration", "days": 1, "next": "check"},
                "check": {"type": "condition", "rule": CITY_RULE, "yes": "later", "no": "later"},
                "later": {"type": "wait", "mode": "duration", "days": 30, "next": None}}, "wait")
            sending_steps = {"mail": {"type": "send", "campaign_id": 0, "next": "after"},
                             "after": {"type": "wait", "mode": "duration", "days": 30, "next": None}}
            self.automations["send"] = self._automation("send", {"kind": "manual"}, sending_steps, "mail")
            self.automations["trigger"] = self._automation("trigger", {"kind": "event", "event": "purchase"},
                                                           sending_steps, "mail")
            self.automations["kill"] = self._automation("kill", {"kind": "manual"}, sending_steps, "mail")
            now = utcnow()
            automation, version, _message = self.automations["bulk"]
            self._runs(automation, version, args.runs, args.due, 1, args.subscribers, "wait", "later",
                       entered=now - timedelta(days=2), due_at=now - timedelta(minutes=1),
                       later_at=now + timedelta(days=30))
            for name in ("send", "kill"):  # parked at the send step until their part begins
                automation, version, _message = self.automations[name]
                ids = self.ranges[name]
                self._runs(automation, version, len(ids), len(ids), ids[0], len(ids), "mail", "mail",
                           entered=now, due_at=now + timedelta(days=365), later_at=now + timedelta(days=365))
            db.session.commit()
            self.api = create_api_user("shop", "editor")[1]
            self.api_user = "shop"
            self.database = db.engine.dialect.name
            if self.database == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM ANALYZE"))

    def _automation(self, name: str, trigger: dict[str, Any], steps: dict[str, Any],
                    start: str) -> tuple[int, int, int | None]:
        automation = create_automation(name)
        steps = json.loads(json.dumps(steps))
        message_id = None
        for step in steps.values():
            if step["type"] == "send":
                message = new_message(automation, "mail", "{{ subscriber.first_name }}さん、ご購入ありがとうございます")
                message.body, message.content_type, message.from_email = self.body, ContentType.HTML, SENDER
                db.session.commit()
                step["campaign_id"] = message_id = message.id
        automation.draft = {"trigger": trigger, "entry": {"mode": "every_time", "dedupe_property": "order_id"},
                            "exit": {"on_unsubscribe": False, "events": []}, "quiet_hours": None,
                            "start": start, "steps": steps}
        db.session.commit()
        version = activate(automation)
        return automation.id, version.id, message_id

    def _runs(self, automation: int, version: int, count: int, due: int, first: int,  # noqa: PLR0917
              subscribers: int, due_step: str, later_step: str, **times: Any) -> None:
        """Insert ``count`` waiting runs at once, the first ``due`` of them at ``due_step`` due at ``due_at``."""
        statement = text(NUMBERS[db.engine.dialect.name] + RUNS_SELECT).bindparams(
            *(bindparam(name, type_=UTCDateTime()) for name in ("entered", "now", "due_at", "later_at")))
        db.session.execute(statement, {"automation": automation, "version": version, "count": count, "due": due,
                                       "first": first, "subscribers": subscribers, "due_step": due_step,
                                       "later_step": later_step, "now": utcnow(), **times})

    # 1. Steps a second ---------------------------------------------------------------------------------------

    def steps(self) -> dict[str, Any]:
        """Wake the due runs of "bulk" in this process until none is due."""
        with self.app.app_context():
            steps, started = 0, time.perf_counter()
            while taken := engine.wake():
                steps += taken
            seconds = time.perf_counter() - started
            automation = self.automations["bulk"][0]
            moved = db.session.scalar(select(func.count()).select_from(Run).where(
                Run.automation_id == automation, Run.step == "later")) or 0
            left = db.session.scalar(select(func.count()).select_from(Run).where(
                Run.automation_id == automation, Run.step != "later")) or 0
        return {"database": self.database, "steps": steps, "steps_seconds": round(seconds, 2),
                "steps_per_s": round(steps / seconds), "runs_woken": self.args.due,
                "runs_at_last_wait": moved, "runs_not_moved": left, "steps_runner": "engine.wake in this process"}

    # Workers ---------------------------------------------------------------------------------------------

    def start_workers(self, count: int) -> None:
        logs = Path(self.env["KAIRAN_DATA_DIR"])
        for _n in range(count):
            worker = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "worker", "send", "default"], cwd=ROOT,
                env={**os.environ, **self.env}, stdout=(logs / f"worker-{len(self.workers)}.log").open("wb"),
                stderr=subprocess.STDOUT)
            self.workers.append(worker)
            self.peak.pids.append(worker.pid)
        live = {worker.pid for worker in self.workers if worker.poll() is None}
        deadline = time.monotonic() + 60
        while {w.pid for w in Worker.all(connection=self.redis)} < live:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.1)
        if not self.peak.is_alive():
            self.peak.start()

    def stop_workers(self, keep: int = 0) -> None:
        for worker in [w for w in self.workers if w.poll() is None][keep:]:
            worker.terminate()
            worker.wait(60)
            self.peak.pids.remove(worker.pid)

    # 2. A send step against a campaign ---------------------------------------------------------------------

    def sends(self) -> dict[str, Any]:
        self.start_workers(self.args.workers)
        with self.app.app_context():
            campaign = db.session.get(Campaign, self.campaign_id)
            assert campaign is not None
            started = time.time()
            sending.change_status(campaign, "running")
            campaign_seconds, campaign_got = self.arrivals_since(started, self.ranges["campaign"])
            automation, _version, _message = self.automations["send"]
            started = time.time()
            release(automation)
            engine.queue_wake()
            send_seconds, send_got = self.arrivals_since(started, self.ranges["send"])
        count = self.args.send
        campaign_rate, send_rate = count / campaign_seconds, count / send_seconds
        return {"send_messages": count, "campaign_seconds": round(campaign_seconds, 2),
                "campaign_msg_per_s": round(campaign_rate, 1), "automation_send_seconds": round(send_seconds, 2),
                "automation_msg_per_s": round(send_rate, 1), "send_ratio": round(send_rate / campaign_rate, 2),
                "send_lost": count - len(send_got), "campaign_lost": count - len(campaign_got),
                "send_duplicates": duplicates(send_got) + duplicates(campaign_got)}

    def arrivals_since(self, started: float, ids: range, timeout: float = WAIT_SECONDS) -> tuple[float, dict]:
        """Wait until the sink holds a message for each subscriber in ``ids`` (or the timeout); return the seconds
        from ``started`` to the last one accepted, and each recipient's acceptance times."""
        wanted = {f"user{i}@example.jp" for i in ids}
        got: dict[str, list[float]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got.update(self.new_dumps())
            if wanted <= got.keys():
                break
            time.sleep(0.05)
        missing = wanted - got.keys()
        if missing:
            print(f"bench.automations: {len(missing)} of {len(wanted)} not at the sink after {timeout} s, e.g. "
                  f"{sorted(missing)[:3]}; seen {len(got)} recipients", file=sys.stderr)
        got = {address: times for address, times in got.items() if address in wanted}
        last = max((t for times in got.values() for t in times), default=time.time())
        return last - started, got

    def new_dumps(self) -> dict[str, list[float]]:
        """Recipient -> acceptance times (the dump's mtime) of what the sink's dumps gained since the last look.

        smtp-sink names a dump by the second and a short number that repeats across connections: a message whose
        name is taken is appended to that file, so a dump is read whole, from where the last look stopped. A dump
        written to in the last SETTLED seconds may be still arriving: it is left for the next look."""
        found: dict[str, list[float]] = {}
        now = time.time()
        for entry in os.scandir(self.sink.dumps):
            stat = entry.stat()
            if self.read.get(entry.name, 0) >= stat.st_size or now - stat.st_mtime < SETTLED:
                continue
            with open(entry.path, "rb") as fh:
                fh.seek(self.read.get(entry.name, 0))
                new = fh.read()
            self.read[entry.name] = self.read.get(entry.name, 0) + len(new)
            for line in new.decode(errors="replace").splitlines():
                if line.startswith("X-Rcpt-Args:"):
                    address = line.split(":", 1)[1].strip().strip("<>").lower()
                    found.setdefault(address, []).append(stat.st_mtime)
        return found

    # 3. Trigger to send ----------------------------------------------------------------------------------------

    def trigger_to_send(self) -> dict[str, Any]:
        """One worker; events posted one by one; seconds from each POST to its message at the sink."""
        self.stop_workers(keep=1)
        self.new_dumps()
        client = self.app.test_client()
        headers = {"Authorization": f"token {self.api_user}:{self.api}", "Content-Type": "application/json"}
        posted: dict[str, float] = {}
        errors: Counter[str] = Counter()
        ids = self.ranges["trigger"]
        for number, subscriber_id in enumerate(ids):
            at = time.time()
            response = client.post("/api/events", headers=headers, data=json.dumps({
                "subscriber_id": subscriber_id, "name": "purchase",
                "properties": {"order_id": f"o-{number}", "product": "インク PX-INK-4C", "price": 2980}}))
            if response.status_code == 200:
                posted[f"user{subscriber_id}@example.jp"] = at
            else:  # counted, and the next one posted: a shop's retry would be deduplicated by its key
                errors[f"{response.status_code} {response.get_data(as_text=True)[:120]}"] += 1
            time.sleep(self.args.event_gap_ms / 1000)
        got: dict[str, list[float]] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not posted.keys() <= got.keys():
            time.sleep(0.1)
            for address, times in self.new_dumps().items():
                got.setdefault(address, []).extend(times)
        latencies = sorted(min(got[address]) - at for address, at in posted.items() if address in got)
        if not latencies:
            return {"trigger_to_send_p95_s": None, "trigger_lost": len(posted), "trigger_errors": dict(errors)}
        return {"events": len(ids), "events_answered_200": len(posted), "trigger_errors": dict(errors),
                "event_gap_ms": self.args.event_gap_ms,
                "trigger_to_send_p50_s": round(statistics.median(latencies), 2),
                "trigger_to_send_p95_s": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 2),
                "trigger_to_send_max_s": round(latencies[-1], 2), "trigger_lost": len(posted) - len(latencies),
                "trigger_duplicates": duplicates(got)}

    # 4. A worker killed mid-wake ------------------------------------------------------------------------------

    def kill_test(self) -> dict[str, Any]:
        self.start_workers(self.args.workers - len([w for w in self.workers if w.poll() is None]))
        self.new_dumps()
        automation, _version, message = self.automations["kill"]
        ids = self.ranges["kill"]
        killed: dict[str, Any] = {"kill": "missed: the wake ended before a batch was caught mid-way"}
        with self.app.app_context():
            started = time.time()
            release(automation)
            engine.queue_wake()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                db.session.rollback()  # a fresh snapshot each look
                at_mail = dict(db.session.execute(select(Run.claimed_until.is_not(None), func.count()).where(
                    Run.automation_id == automation, Run.step == "mail").group_by(Run.claimed_until.is_not(None))
                ).all())
                claimed, unclaimed = at_mail.get(True, 0), at_mail.get(False, 0)
                if claimed + unclaimed == 0:
                    break
                if claimed and claimed + unclaimed < len(ids):  # a batch committed, another one under way
                    victim = self.waking_worker()
                    if victim is not None:
                        sending_now = db.session.scalar(select(func.count()).select_from(Delivery).where(
                            Delivery.campaign_id == message, Delivery.status == DeliveryStatus.SENDING)) or 0
                        kill_tree(victim)
                        killed = {"kill": "SIGKILL of the worker running the wake, and its work horse",
                                  "in_flight_at_kill": {"runs_claimed": claimed, "deliveries_sending": sending_now},
                                  "runs_past_send_at_kill": len(ids) - claimed - unclaimed,
                                  "kill_after_s": round(time.time() - started, 2)}
                        break
                time.sleep(0.005)
            self.workers = [w for w in self.workers if w.poll() is None]
            self.start_workers(1)  # a supervisor's restart
            # Let the survivors send what was committed, then move past the claims' lapse and wake again.
            self.wait_unsent(message, 120)
            clock.move(self.env["KAIRAN_REDIS_URL"], timedelta(seconds=engine.CLAIM_SECONDS + 5))
            engine.queue_wake()
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline:
                db.session.rollback()
                stuck = db.session.scalar(select(func.count()).select_from(Run).where(
                    Run.automation_id == automation, Run.step == "mail", Run.state == RunState.WAITING)) or 0
                if not stuck and self.wait_unsent(message, 1):
                    break
                time.sleep(0.25)
            recovered = time.time()
            time.sleep(2)  # anything sent twice late
            _seconds, got = self.arrivals_since(started, ids, timeout=1)
            past = set(db.session.scalars(select(Run.subscriber_id).where(
                Run.automation_id == automation, Run.step != "mail")))
        return {**killed, "kill_runs": len(ids), "recovery_s": round(recovered - started, 1),
                "duplicates": duplicates(got),
                "lost": sum(1 for s in past if f"user{s}@example.jp" not in got),
                "stuck": len(ids) - len(past)}

    def waking_worker(self) -> int | None:
        """The pid of the worker whose current job is the engine's wake."""
        for worker in Worker.all(connection=self.redis):
            if worker.pid is None:
                continue
            if worker.get_current_job_id() == engine.WAKE_JOB_ID or "wake" in str(worker.get_current_job_id()):
                return int(worker.pid)
            job = worker.get_current_job()
            if job is not None and str(job.func_name).endswith("engine.wake"):
                return int(worker.pid)
        return None

    def wait_unsent(self, message: int | None, timeout: float) -> bool:
        """Wait until no delivery of the message is queued or being sent; tell whether it came to that."""
        deadline = time.monotonic() + timeout
        while True:
            db.session.rollback()
            unsent = db.session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.campaign_id == message,
                Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]))) or 0
            if not unsent:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)


def release(automation: int) -> None:
    """Make an automation's parked runs due now."""
    db.session.execute(update(Run).where(Run.automation_id == automation, Run.state == RunState.WAITING)
                       .values(next_wake_at=utcnow()))
    db.session.commit()


def duplicates(got: dict[str, list[float]]) -> int:
    return sum(len(times) - 1 for times in got.values() if len(times) > 1)


def kill_tree(pid: int) -> None:
    """SIGKILL a worker and its work horse."""
    family = [pid]
    try:
        family += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for member in family:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    main()
