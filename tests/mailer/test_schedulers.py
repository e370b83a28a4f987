"""Several workers' schedulers, as real ``flask worker`` processes on a real Redis: every worker runs one, one at
a time releases scheduled jobs, a waiting one takes over within seconds of its holder's death, and health says
when none runs."""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.db import db, utcnow
from core.queues import redis
from core.scheduler import LOCK_SECONDS, scheduler_holders
from mailer import scheduling
from mailer.layouts import default_template
from mailer.models import Campaign, CampaignStatus, ContentType
from mailer.outbox import Outbox
from tests.helpers import api_user, login, wait_until
from tests.mailer.helpers import Workers, seed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The reconciler runs once, at the first worker's start: only a scheduler can start a campaign later."""
    return {**settings_env, "KAIRAN_RECONCILE_SECONDS": "3600"}


def name_of(process: subprocess.Popen[bytes]) -> str:
    return f"{socket.gethostname()}.{process.pid}"  # the worker's name, as flask worker gives it


def holders(app: Flask) -> set[str | None]:
    with app.app_context():
        return set(scheduler_holders(redis()).values())


def test_a_plain_worker_schedules_and_a_waiting_one_takes_over_within_seconds(
        app: Flask, capture: Outbox, workers: Workers) -> None:
    first, second = workers.start(), workers.start()  # no --with-scheduler: every worker runs one
    wait_until(lambda: holders(app) in ({name_of(first)}, {name_of(second)}), 30)
    holder = first if holders(app) == {name_of(first)} else second
    survivor = second if holder is first else first
    time.sleep(2)  # the other keeps trying each second, and never takes a lock that is held
    assert holders(app) == {name_of(holder)}

    with app.app_context():
        campaign_id = start_campaign_later(seed(["a@example.jp", "b@example.jp"]))
    workers.kill(holder)
    killed_at = time.monotonic()
    wait_until(lambda: holders(app) == {name_of(survivor)}, LOCK_SECONDS + 5)
    took_over = time.monotonic() - killed_at
    # The survivor's scheduler releases the start job that came due meanwhile: the campaign is sent.
    wait_until(lambda: campaign_status(app, campaign_id) == CampaignStatus.FINISHED, 20)
    assert capture.page(1, 10)[1] == 2
    assert took_over <= LOCK_SECONDS + 2, took_over


def start_campaign_later(list_id: int) -> int:
    """A campaign scheduled to start in one second (its start is a job in RQ's scheduled registry)."""
    campaign = Campaign(name="予約", subject="お知らせ", content_type=ContentType.PLAIN, body="{{ subscriber.name }}様",
                        lists=[list_id], from_email="news@kairan.example", template=default_template(),
                        send_at=utcnow() + timedelta(seconds=1))
    db.session.add(campaign)
    db.session.commit()
    scheduling.schedule(campaign)
    return campaign.id


def campaign_status(app: Flask, campaign_id: int) -> CampaignStatus:
    with app.app_context():
        return db.session.get(Campaign, campaign_id).status  # type: ignore[union-attr]


def test_health_and_the_dashboard_say_when_no_scheduler_runs(app: Flask, client: FlaskClient,
                                                             users: dict[str, str], workers: Workers) -> None:
    headers = {"Authorization": f"token {api_user(app)}"}
    lone = workers.start("--without-scheduler")

    def component() -> dict[str, object]:
        return dict(client.get("/api/health/detail", headers=headers).get_json()["data"]["components"]["scheduler"])

    wait_until(lambda: client.get("/api/health/detail", headers=headers).get_json()["data"]["components"]
               ["workers"]["ok"], 30)
    response = client.get("/api/health/detail", headers=headers)
    assert response.status_code == 503 and not component()["ok"]
    assert component()["detail"] == "none for default, import, send, tx, webhooks"
    login(client, "admin")
    dashboard = client.get("/").get_data(as_text=True)
    assert "No scheduler is running" in dashboard

    workers.kill(lone)
    without_imports = workers.start("tx", "default", "send")  # as the guide's web host: imports run elsewhere
    wait_until(lambda: component()["detail"] == "none for import, webhooks", 30)
    assert "No scheduler runs for the import, webhooks queues" in client.get("/").get_data(as_text=True)

    scheduling_one = workers.start()  # takes every queue: only the import and webhooks queues' locks are free
    wait_until(lambda: component()["ok"] is True, 30)
    assert component()["detail"] == ", ".join(sorted([name_of(without_imports), name_of(scheduling_one)]))
    assert "No scheduler is running" not in client.get("/").get_data(as_text=True)
