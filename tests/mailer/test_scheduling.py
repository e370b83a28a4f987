"""Scheduling campaigns through the API, started by RQ's real scheduler and workers, or by the reconciler's sweep."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from rq.job import Job
from rq.scheduler import RQScheduler
from sqlalchemy import update

from core.db import db, utcnow
from core.queues import WORKER_QUEUES, queue, redis
from mailer.models import Campaign, CampaignStatus
from mailer.outbox import Outbox
from mailer.queues import SEND_QUEUE
from mailer.scheduling import start_due_campaigns
from tests.helpers import api_user, run_jobs
from tests.mailer.helpers import audience


def in_seconds(seconds: float) -> str:
    """An RFC 3339 time this many seconds from now, written in Japan's offset as a client there would."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).astimezone(ZoneInfo("Asia/Tokyo")).isoformat()


def draft(client: FlaskClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    """A campaign to the two test lists, with these fields."""
    lists = audience(client, headers)
    response = client.post("/api/campaigns", headers=headers, json={
        "name": "予約配信", "subject": "{{ subscriber.name }}様へ", "content_type": "plain", "lists": lists,
        "body": "{{ subscriber.name }}様、こんにちは。", **fields})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json()["data"])


def run_scheduler(app: Flask) -> None:
    """One pass of RQ's scheduler, as the worker started with --with-scheduler makes every second."""
    with app.app_context():
        scheduler = RQScheduler([queue(name) for name in WORKER_QUEUES], connection=redis(), name="test-scheduler")
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()


def its_time_has_come(app: Flask, campaign_id: int) -> None:
    """The campaign's send time passes: set a second ago in the database, and its start job (if queued) due now
    in RQ's scheduled registry. A send time a second ahead could pass before a loaded machine saved or scheduled
    it, and sleeping until then would only slow the suite."""
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id == campaign_id)
                           .values(send_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        registry = queue(SEND_QUEUE).scheduled_job_registry
        for job_id in registry.get_job_ids():
            registry.schedule(Job.fetch(job_id, connection=redis()), datetime.now(UTC) - timedelta(seconds=1))


def scheduled_jobs(app: Flask) -> list[str]:
    with app.app_context():
        return list(queue(SEND_QUEUE).scheduled_job_registry.get_job_ids())


def test_a_past_or_missing_send_time_is_refused_saying_why(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    campaign = draft(client, headers)
    url, status_url = f"/api/campaigns/{campaign['id']}", f"/api/campaigns/{campaign['id']}/status"
    refused = client.put(status_url, headers=headers, json={"status": "scheduled"})
    assert refused.status_code == 400
    assert refused.get_json()["message"] == "Set a send time (send_at) before scheduling the campaign."
    past = client.put(url, headers=headers, json={"send_at": "2020-01-01T09:00:00+09:00"})
    assert past.status_code == 400
    # Said in the installation's time, as people type it
    assert past.get_json()["message"] == ("The send time Jan 1, 2020, 9:00:00\u202fAM has passed: choose a time in "
                                          "the future.")
    naive = client.put(url, headers=headers, json={"send_at": "2099-01-01T09:00:00"})
    assert naive.get_json()["message"] == "send_at needs its UTC offset, like 2026-05-01T09:00:00+09:00."
    garbled = client.put(url, headers=headers, json={"send_at": "next tuesday"})
    assert garbled.get_json()["message"] == "send_at must be a date and time like 2026-05-01T09:00:00+09:00."
    # A time that was in the future when saved, and has passed by the time it is scheduled:
    assert client.put(url, headers=headers, json={"send_at": in_seconds(60)}).status_code == 200
    its_time_has_come(app, campaign["id"])
    late = client.put(status_url, headers=headers, json={"status": "scheduled"})
    assert late.status_code == 400 and "has passed: choose a time in the future." in late.get_json()["message"]
    assert client.get(url, headers=headers).get_json()["data"]["status"] == "draft"


def test_a_scheduled_campaign_starts_at_its_time_and_sends(app: Flask, client: FlaskClient, capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    campaign = draft(client, headers, send_at=in_seconds(60), send_later=True)
    scheduled = client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "scheduled"})
    assert scheduled.status_code == 200, scheduled.get_json()
    assert scheduled.get_json()["data"]["status"] == "scheduled" and scheduled.get_json()["data"]["send_at"]
    run_scheduler(app)
    run_jobs(app)  # not due yet: nothing moves
    assert capture.page(1, 10)[1] == 0 and scheduled_jobs(app) == [f"campaign-{campaign['id']}-scheduled-start"]
    its_time_has_come(app, campaign["id"])
    run_scheduler(app)  # due now: the start job goes on the send queue
    run_jobs(app)  # it starts the campaign, whose batch the same worker then sends
    sent = client.get(f"/api/campaigns/{campaign['id']}", headers=headers).get_json()["data"]
    assert (sent["status"], sent["to_send"], sent["sent"]) == ("finished", 2, 2)
    assert capture.page(1, 10)[1] == 2
    assert scheduled_jobs(app) == []


def test_unscheduling_returns_it_to_draft_and_it_never_starts(app: Flask, client: FlaskClient,
                                                              capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    campaign = draft(client, headers, send_at=in_seconds(60))
    status_url = f"/api/campaigns/{campaign['id']}/status"
    client.put(status_url, headers=headers, json={"status": "scheduled"})
    unscheduled = client.put(status_url, headers=headers, json={"status": "draft"})
    assert unscheduled.get_json()["data"]["status"] == "draft"
    assert unscheduled.get_json()["data"]["send_at"]  # kept, to schedule again
    assert scheduled_jobs(app) == []
    again = client.put(status_url, headers=headers, json={"status": "draft"})
    assert again.get_json()["message"] == "A draft campaign cannot become draft."
    its_time_has_come(app, campaign["id"])
    with app.app_context():
        assert start_due_campaigns() == 0
    run_scheduler(app)
    run_jobs(app)
    assert capture.page(1, 10)[1] == 0
    assert client.get(f"/api/campaigns/{campaign['id']}", headers=headers).get_json()["data"]["status"] == "draft"


def test_two_sweeps_at_once_start_a_due_campaign_once(app: Flask, client: FlaskClient, capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    campaign = draft(client, headers, send_at=in_seconds(60))
    scheduled = client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "scheduled"})
    assert scheduled.status_code == 200, scheduled.get_json()
    with app.app_context():
        redis().flushall()  # Redis lost its start job: only the sweep can start the campaign now
    its_time_has_come(app, campaign["id"])
    together = threading.Barrier(2)
    started: list[int] = []

    def sweep() -> None:
        with app.app_context():
            together.wait()
            started.append(start_due_campaigns())

    sweeps = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in sweeps:
        thread.start()
    for thread in sweeps:
        thread.join(30)
    assert sorted(started) == [0, 1]
    run_jobs(app)
    assert capture.page(1, 10)[1] == 2  # each recipient once
    with app.app_context():
        assert start_due_campaigns() == 0


def test_a_scheduled_campaign_can_be_moved_and_a_paused_one_scheduled(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    campaign = draft(client, headers, send_at=in_seconds(3600))
    url, status_url = f"/api/campaigns/{campaign['id']}", f"/api/campaigns/{campaign['id']}/status"
    client.put(status_url, headers=headers, json={"status": "scheduled"})
    moved = client.put(url, headers=headers, json={"send_at": "2099-05-01T09:00:00+09:00"})
    assert moved.status_code == 200 and moved.get_json()["data"]["send_at"] == "2099-05-01T00:00:00+00:00"
    with app.app_context():
        registry = queue(SEND_QUEUE).scheduled_job_registry
        at = registry.get_scheduled_time(f"campaign-{campaign['id']}-scheduled-start")
    assert at.replace(tzinfo=UTC) == datetime(2099, 5, 1, tzinfo=UTC)
    cleared = client.put(url, headers=headers, json={"send_later": False})
    assert cleared.get_json()["message"] == "A scheduled campaign needs its send time: unschedule it first."
    now = client.put(status_url, headers=headers, json={"status": "running"})
    assert now.get_json()["message"] == "A scheduled campaign cannot become running."
    client.put(status_url, headers=headers, json={"status": "draft"})
    client.put(status_url, headers=headers, json={"status": "running"})
    client.put(status_url, headers=headers, json={"status": "paused"})
    resumed_later = client.put(status_url, headers=headers, json={"status": "scheduled"})
    assert resumed_later.get_json()["data"]["status"] == "scheduled"


def test_a_campaign_that_cannot_start_at_its_time_is_paused_saying_why(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    campaign = draft(client, headers, send_at=in_seconds(60))
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "scheduled"})
    client.put(f"/api/campaigns/{campaign['id']}", headers=headers, json={"lists": []})  # still scheduled
    its_time_has_come(app, campaign["id"])
    with app.app_context():
        assert start_due_campaigns() == 0
        paused = db.session.get(Campaign, campaign["id"])
        assert paused is not None and (paused.status, paused.notice) == (CampaignStatus.PAUSED,
                                                                         "Choose at least one list to send to.")
