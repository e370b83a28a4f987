"""What a deployment's machines share. One secret key: on PostgreSQL a worker, web or bounce server refuses to
start without KAIRAN_SECRET_KEY (each machine would make up its own); the embedded SQLite installation keeps
generating one. The first admin: KAIRAN_ADMIN_USER/PASSWORD make it on any web machine, not only under make up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from app import create_app
from core.auth import Role
from core.db import db
from core.embedded import port_answers, web_argv
from core.models import User
from tests.helpers import PASSWORD, login
from tests.resources import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0  # a loaded 2-core machine starts a Flask process in 20 s or more


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "app", *args]


def serves(process: subprocess.Popen[str], port: int) -> bool:
    """Wait until the web process answers (True) or exits (False); stop it if it answered."""
    deadline = time.monotonic() + START_TIMEOUT
    while process.poll() is None and not port_answers(port):
        assert time.monotonic() < deadline, "the web process neither answered nor exited"
        time.sleep(0.1)
    answered = process.poll() is None
    if answered:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    return answered


def test_processes_on_postgresql_refuse_to_start_without_the_deployment_secret(settings_env: dict[str, str]) -> None:
    env = {**os.environ, **settings_env}
    port = free_port()
    web = start(web_argv(port), env)
    worker = start(flask("worker", "--burst"), env)
    if not settings_env["KAIRAN_DATABASE_URL"].startswith("postgresql"):
        # SQLite: one machine's installation, whose generated key is the deployment's.
        assert serves(web, port)
        assert worker.wait(START_TIMEOUT) == 0, worker.communicate()[0]
        return
    bounces = start(flask("bounces", "serve", "--port", str(free_port())), env)
    up = start(flask("up"), {**env, "KAIRAN_PORT": str(free_port())})
    assert not serves(web, port)
    for name, process in {"web": web, "worker": worker, "bounces": bounces, "up": up}.items():
        output = process.communicate(timeout=START_TIMEOUT)[0]
        assert process.returncode == 1, (name, output)
        assert "KAIRAN_SECRET_KEY is not set. With PostgreSQL, every web and worker process on every machine " \
               "must sign links" in output, (name, output)
        assert "Traceback" not in output, (name, output)

    shared = {**env, "KAIRAN_SECRET_KEY": "one key for every machine of it"}
    assert serves(start(web_argv(port), shared), port)
    worker = start(flask("worker", "--burst"), shared)
    assert worker.wait(START_TIMEOUT) == 0, worker.communicate()[0]


def web_machine(settings_env: dict[str, str], **settings: str) -> Flask:
    """One web process of a deployment: the app gunicorn serves, no `flask up` before it."""
    return create_app({**settings_env, **settings, "TESTING": True})


def test_admin_user_and_password_make_the_first_admin_on_any_web_machine(app: Flask,
                                                                         settings_env: dict[str, str]) -> None:
    admin = {"KAIRAN_ADMIN_USER": "Boss", "KAIRAN_ADMIN_PASSWORD": PASSWORD}
    first, second = web_machine(settings_env, **admin).test_client(), web_machine(settings_env, **admin).test_client()
    # Whoever comes first, on whichever machine, meets the login page, never the setup page that anyone could fill.
    assert first.get("/").headers["Location"].startswith("/login")
    assert second.get("/setup").status_code == 404
    assert login(second, "boss").headers["Location"] == "/"
    assert second.get("/").status_code == 200
    with app.app_context():
        assert [(u.username, u.role) for u in db.session.scalars(select(User))] == [("boss", Role.ADMIN)]


def test_an_admin_password_too_short_is_said_on_the_page_naming_the_settings(settings_env: dict[str, str]) -> None:
    client = web_machine(settings_env, KAIRAN_ADMIN_USER="boss", KAIRAN_ADMIN_PASSWORD="short").test_client()
    response = client.get("/login")
    assert response.status_code == 400
    assert ("KAIRAN_ADMIN_USER and KAIRAN_ADMIN_PASSWORD cannot make the first admin: A password needs at least 10 "
            "characters.") in response.get_data(as_text=True)
