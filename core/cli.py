"""CLI commands: ``up`` (everything embedded), ``worker``, ``users create``, ``tokens create``, ``audit verify``."""

from __future__ import annotations

import functools
import gc
import itertools
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, SimpleWorker, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.job import Job
from sqlalchemy import inspect, select
from sqlalchemy.exc import SQLAlchemyError

from core import audit, shared_config, two_factor
from core.auth import Role
from core.db import db
from core.deployment import require_shared_secret
from core.embedded import EmbeddedError, Supervisor, preflight, services
from core.errors import KairanError
from core.models import User, UserType
from core.queues import (
    WORKER_QUEUES,
    WORKER_TTL,
    QueueName,
    maintenance_seconds,
    periodic_jobs,
    queue,
    queue_spec,
    redis,
)
from core.scheduler import Scheduler
from core.settings import Settings
from core.users import create_api_user, create_user, ensure_first_admin, has_admin

REDIS_RETRY_SECONDS = 2
users_cli = AppGroup("users", help="Manage people who log in.")
tokens_cli = AppGroup("tokens", help="Manage API users and their tokens.")
audit_cli = AppGroup("audit", help="Check the audit log.")
ROLE_CHOICE = click.Choice([r.value for r in Role])


@click.command("up")
def up_command() -> None:
    """Start Kairan with everything it needs (Redis, capture SMTP, workers, web) and supervise it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings: Settings = app.config["KAIRAN"]
    require_shared_secret(settings)
    try:
        preflight(app)
        specs = services(app)
    except EmbeddedError as exc:
        raise click.ClickException(str(exc)) from None
    upgrade()
    try:
        created = ensure_first_admin(settings.admin_user, settings.admin_password)
    except KairanError as exc:
        raise click.ClickException(exc.message) from None
    created_name = created.username if created is not None else None
    needs_setup = not has_admin()
    db.session.remove()
    db.engine.dispose()  # children open their own connections

    def announce() -> None:
        click.echo(f"Kairan is running at {settings.base_url}  (Ctrl-C stops it)")
        if created_name is not None:
            click.echo(f"Log in as {created_name!r} with the password in KAIRAN_ADMIN_PASSWORD.")
        elif needs_setup:
            click.echo(f"Open {settings.base_url}/setup to create the first admin account.")
        if settings.embedded_smtp:
            click.echo(f"Mail is captured, not delivered: see {settings.base_url}/outbox")

    supervisor = Supervisor(specs, cwd=app.root_path, log=lambda line: click.echo(line, err=True))
    code = supervisor.run(on_ready=announce)
    click.echo("Kairan stopped." if code == 0 else "Kairan stopped after an error.", err=code != 0)
    sys.exit(code)


class KairanWorker(Worker):
    """An RQ worker that runs some queues' jobs in its own process, queues the periodic jobs (core/queues.py)
    and runs a scheduler that waits its turn (core/scheduler.py).

    Jobs of a queue declared ``in_process`` (mailer's send and tx queues) run here rather than in a
    forked work horse, so a campaign stays compiled and its DKIM key parsed from one batch to the next
    (a fork would redo both for every batch); other jobs (imports) still get a fresh horse each. RQ runs
    maintenance between jobs and while idle, from the worker's own process: it queues the packages'
    periodic jobs (mailer's send reconciler), each at most once its interval across all workers, even
    after Redis was flushed.
    """

    def execute_job(self, job: Job, queue: Queue) -> None:
        shared_config.check()  # settings and endpoints saved since hold from this job on (a forked horse inherits them)
        db.session.remove()
        spec = queue_spec(queue.name)
        if spec is not None and spec.in_process:
            try:
                SimpleWorker.execute_job(self, job, queue)  # type: ignore[arg-type]
            finally:
                db.session.remove()  # no transaction or stale rows carried into the next job
        else:
            super().execute_job(job, queue)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        for periodic in periodic_jobs():
            if self.connection.set(periodic.lock, self.name, nx=True, ex=max(periodic.seconds - 1, 1)):
                queue(periodic.queue).enqueue(periodic.job)

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
                         log_format: str = DEFAULT_LOGGING_FORMAT) -> None:
        """Start Kairan's scheduler process at once, holding a lock or not: it waits for the locks it lacks.

        (RQ starts its own only when the lock is free at that moment, and looks again once a maintenance interval.)
        """
        self.scheduler = Scheduler(self.queues, connection=self.connection, logging_level=logging_level or "INFO",
                                   date_format=date_format, log_format=log_format, serializer=self.serializer,
                                   name=self.name)
        if not burst:
            self.scheduler.start()
        elif self.scheduler.acquire_locks():  # a burst worker releases what is due once, as RQ's does
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()


@click.command("worker")
@click.option("--with-scheduler/--without-scheduler", default=True, show_default=True,
              help="Take part in releasing scheduled jobs (send times, deferred batches, retries): one worker does it "
                   "at a time, and another takes over within seconds when it dies.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.argument("queues", nargs=-1)
def worker_command(with_scheduler: bool, burst: bool, queues: tuple[str, ...]) -> None:
    """Run an RQ worker on Kairan's queues (all of them, transactional mail first, unless named)."""
    require_shared_secret(current_app.config["KAIRAN"])
    names = queues or tuple(WORKER_QUEUES)
    unknown = {name for name in names if queue_spec(name) is None}
    if unknown:
        raise click.BadParameter(f"unknown queue {sorted(unknown)[0]!r}", param_hint="QUEUES")
    # Kairan's own lines at INFO (each send batch's outcome, a scheduler taking over), RQ's from WARNING; each
    # names this worker as the dashboard does, so an admin reading several hosts' logs can tell them apart.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s {socket.gethostname()}.{os.getpid()} %(name)s %(levelname)s: %(message)s")
    engine = db.engine
    # What is loaded by now (the app, its modules and their objects) lives as long as the worker: frozen out
    # of the collector's sight, the full collections a send's allocations set off walk only what jobs made
    # (they had made loading a batch's readers about twice as slow).
    gc.freeze()
    # Each job runs in a forked work horse that must open its own database connections.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    for life in itertools.count():
        # host.pid: readable on the dashboard, and unique among live workers (.N after a Redis outage).
        name = f"{socket.gethostname()}.{os.getpid()}" + (f".{life}" if life else "")
        worker = KairanWorker([queue(QueueName(n)) for n in names], connection=redis(), worker_ttl=WORKER_TTL,
                              name=name, maintenance_interval=maintenance_seconds())
        try:
            worker.work(with_scheduler=with_scheduler, burst=burst, logging_level="WARNING")
            return
        except RedisConnectionError as error:  # Redis restarted or unreachable: wait for it rather than exit
            click.echo(f"Lost Redis ({error}); trying again in {REDIS_RETRY_SECONDS} s.", err=True)
            time.sleep(REDIS_RETRY_SECONDS)


Command = TypeVar("Command", bound=Callable[..., Any])


def no_database_message() -> str | None:
    """Why the commands that read the database cannot run, else None: no migrated Kairan database at its URL.
    A SQLite file that is not there is not created by asking."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database and not os.path.exists(url.database):
        present = False
    else:
        try:
            present = inspect(db.engine).has_table("alembic_version")
        except SQLAlchemyError:
            present = False
    if present:
        return None
    return (f"There is no migrated Kairan database at {url.render_as_string(hide_password=True)}: set "
            "KAIRAN_DATA_DIR or KAIRAN_DATABASE_URL as when running `make up`, or run the migrations "
            "(flask --app app db upgrade).")


def needs_database(command: Command) -> Command:
    """Refuse in one sentence, exit status 1, where there is no migrated database (not a SQLAlchemy traceback)."""
    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        message = no_database_message()
        if message is not None:
            raise click.ClickException(message)
        return command(*args, **kwargs)
    return checked  # type: ignore[return-value]


@users_cli.command("create")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, required=True)
@click.password_option(help="The password (asked for when not given).")
@needs_database
def users_create(name: str, role: str, password: str) -> None:
    """Create a person who logs in to the UI."""
    try:
        user = create_user(name, password, role)
    except KairanError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {user.role.value} {user.username}.")


@users_cli.command("two-factor-off")
@click.argument("name")
@needs_database
def users_two_factor_off(name: str) -> None:
    """Turn off a person's two-factor login (the last admin lost their phone and recovery codes)."""
    user = db.session.scalar(select(User).where(User.username == name.strip().lower(), User.type == UserType.USER))
    if user is None:
        raise click.ClickException(f"No person is called {name!r}.")
    two_factor.turn_off(user)
    click.echo(f"Two-factor login of {user.username} is off.")


@tokens_cli.command("create")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, required=True)
@needs_database
def tokens_create(name: str, role: str) -> None:
    """Create an API user; the last line printed is ``api_user:token`` (shown only now)."""
    try:
        user, token = create_api_user(name, role)
    except KairanError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created API user {user.username} with role {user.role.value}. Keep this token; it is not shown again:")
    click.echo(f"{user.username}:{token}")


@audit_cli.command("verify")
@needs_database
def audit_verify() -> None:
    """Say whether the audit log's hash chain is whole, from its first kept entry; name the first broken one."""
    verdict = audit.verify()
    if not verdict.whole:
        raise click.ClickException(f"The audit log is broken at entry {verdict.broken_id}: {verdict.reason} "
                                   f"({verdict.checked} entries before it are whole).")
    click.echo(f"The audit log is whole: {verdict.checked} entries checked.")


def init_app(app: Flask) -> None:
    """Register the CLI commands."""
    app.cli.add_command(up_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(audit_cli)
