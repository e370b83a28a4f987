"""What each answer of a real SMTP relay does to a delivery, rate limits in a real Redis, and the reconciler.

The relay is a scripted aiosmtpd server on loopback (tests/scripted_relay.py); jobs run in a
real RQ worker. What each bad answer gets:
- 550 5.1.1 (no such user): failed, the reply kept, the address suppressed as a hard bounce;
- 552 5.2.2 (mailbox full): failed, not suppressed;
- 550 5.7.26 (the sender's DMARC): failed, never suppressed, the campaign carries a notice;
- 451 (greylisting): back in the queue with a back-off, then sent once;
- a dropped connection: tried again, each message arrives once.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select, text

from core.db import db, utcnow
from core.queues import WORKER_QUEUES, queue, redis
from lists.models import Subscriber, Suppression
from mailer import sending
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mailer.queues import SEND_QUEUE
from mailer.throttle import Bucket, Throttle, quiet_until
from tests.helpers import login, run_jobs
from tests.mailer.helpers import seed, start_campaign
from tests.resources import free_port
from tests.scripted_relay import ScriptedRelay, start_relay


@pytest.fixture
def relay_port() -> int:
    return free_port()


@pytest.fixture
def settings_env(settings_env: dict[str, str], relay_port: int) -> dict[str, str]:
    """The test installation sends through the scripted relay, with short back-offs."""
    return {**settings_env, "KAIRAN_SMTP_URL": f"smtp://127.0.0.1:{relay_port}", "KAIRAN_RETRY_BASE_SECONDS": "1",
            "KAIRAN_SEND_BATCH_SIZE": "4", "KAIRAN_PAUSE_FAILURES": "5", "KAIRAN_DOMAIN_LIMITS": "slow.example=6"}


@pytest.fixture
def relay(relay_port: int) -> Iterator[ScriptedRelay]:
    handler, controller = start_relay(relay_port)
    yield handler
    controller.stop()


def deliveries(campaign_id: int) -> dict[str, Delivery]:
    rows = db.session.execute(select(Subscriber.email, Delivery).join(Delivery, Delivery.subscriber_id == Subscriber.id)
                              .where(Delivery.campaign_id == campaign_id)).all()
    return {email: delivery for email, delivery in rows}


def run_due_jobs(app: Flask) -> None:
    """Move due scheduled jobs (retries, follow-ups) into their queue, then run everything queued."""
    with app.app_context():
        SimpleWorker([queue(name) for name in WORKER_QUEUES], connection=redis()).work(burst=True, with_scheduler=True)


def status_of(campaign_id: int) -> CampaignStatus:
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id).status  # type: ignore[union-attr]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-command-at-a-time"])
def test_each_answer_of_the_relay_gets_what_the_bounce_rules_say(app: Flask, relay: ScriptedRelay,
                                                                 pipelining: bool) -> None:
    # Both ways of sending (mailer/pipelining.py, and smtplib's where a relay does not pipeline) read answers alike.
    relay.pipelining = pipelining
    relay.answers = {
        "gone@example.jp": ["550 5.1.1 <gone@example.jp>: Recipient address rejected: User unknown"],
        "full@example.jp": ["552 5.2.2 Mailbox full"],
        "dmarc@example.jp": ["550 5.7.26 Unauthenticated email from kairan.example is not accepted due to DMARC"],
        "later@example.jp": ["451 4.7.1 Greylisted, please try again later"],
    }
    with app.app_context():
        list_id = seed(["ok@example.jp", "gone@example.jp", "full@example.jp", "dmarc@example.jp",
                        "later@example.jp", "ok2@example.jp"])
        campaign_id = start_campaign(list_id)
    run_jobs(app)
    with app.app_context():
        rows = deliveries(campaign_id)
        assert rows["gone@example.jp"].status == DeliveryStatus.FAILED
        assert "5.1.1" in (rows["gone@example.jp"].smtp_reply or "")
        assert rows["full@example.jp"].status == DeliveryStatus.FAILED
        assert rows["dmarc@example.jp"].status == DeliveryStatus.FAILED
        later = rows["later@example.jp"]
        assert later.status == DeliveryStatus.QUEUED and later.attempts == 1 and later.retry_at is not None
        assert "Greylisted" in (later.smtp_reply or "") and later.first_failed_at is not None
        suppressed = {s.value: s.reason.value for s in db.session.scalars(select(Suppression))}
        assert suppressed == {"gone@example.jp": "hard_bounce"}  # not the full mailbox, not the DMARC refusal
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None and "DMARC" in (campaign.notice or "")
        assert campaign.status == CampaignStatus.RUNNING  # 3 failures: the pause needs 5
        follow_ups = ScheduledJobRegistry(queue=queue(SEND_QUEUE)).get_job_ids()
        assert follow_ups, "the greylisted delivery's batch is scheduled to run again"
    time.sleep(1.6)  # the back-off: 1 s with jitter of ±50 %
    run_due_jobs(app)
    with app.app_context():
        assert deliveries(campaign_id)["later@example.jp"].status == DeliveryStatus.SENT
        assert status_of(campaign_id) == CampaignStatus.FINISHED
    assert relay.accepted == {"ok@example.jp": 1, "ok2@example.jp": 1, "later@example.jp": 1}
    assert ("250-PIPELINING" in relay.ehlo_features) is pipelining
    assert all(sender.startswith("bounce+") and sender.endswith("@bounce.kairan.example") for sender in relay.mail_from)


def test_a_campaign_that_keeps_failing_pauses_itself_and_says_why(
        app: Flask, relay: ScriptedRelay, client: FlaskClient, users: dict[str, str]) -> None:
    bad = [f"nobody{n}@example.jp" for n in range(6)]
    relay.answers = {address: ["550 5.1.1 User unknown"] for address in bad}
    with app.app_context():
        good = [f"reader{n}@example.jp" for n in range(10)]
        campaign_id = start_campaign(seed(bad[:4] + good[:2] + bad[4:] + good[2:]))
    run_jobs(app)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == CampaignStatus.PAUSED
        assert "6 of 8" in (campaign.notice or "") and "5.1.1" in (campaign.notice or "")
        left = [d for d in deliveries(campaign_id).values() if d.status == DeliveryStatus.QUEUED]
        assert len(left) == 8  # two batches went, then it paused; the other two wait
    assert relay.total() == 2
    login(client, "admin")
    dashboard = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Paused itself: 6 of 8 messages failed" in dashboard  # and the page links to the campaign
    assert f"/campaigns/{campaign_id}/preview" in dashboard


def test_a_dropped_connection_is_tried_again_and_each_message_arrives_once(app: Flask, relay: ScriptedRelay) -> None:
    relay.drop_every = 3
    addresses = [f"reader{n}@example.jp" for n in range(10)]
    with app.app_context():
        campaign_id = start_campaign(seed(addresses))
    run_jobs(app)
    for _round in range(10):
        with app.app_context():
            if status_of(campaign_id) == CampaignStatus.FINISHED:
                break
        time.sleep(1.6)
        run_due_jobs(app)
    assert relay.accepted == dict.fromkeys(addresses, 1)
    with app.app_context():
        assert status_of(campaign_id) == CampaignStatus.FINISHED
        assert {d.status for d in deliveries(campaign_id).values()} == {DeliveryStatus.SENT}


def refuse_to_record_sent(subscriber_email: str) -> None:
    """Make the database refuse to record this reader's delivery as sent, as a full disk or a lost server would."""
    who = db.session.scalar(select(Subscriber.id).where(Subscriber.email_key == subscriber_email))
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("CREATE FUNCTION refuse_record() RETURNS trigger LANGUAGE plpgsql AS "
                                "$$ BEGIN RAISE EXCEPTION 'could not write: disk full'; END $$"))
        db.session.execute(text(f"CREATE TRIGGER refuse_record BEFORE UPDATE ON deliveries FOR EACH ROW "
                                f"WHEN (NEW.status = 'sent' AND NEW.subscriber_id = {who}) "
                                f"EXECUTE FUNCTION refuse_record()"))
    else:
        db.session.execute(text(f"CREATE TRIGGER refuse_record BEFORE UPDATE ON deliveries "
                                f"WHEN NEW.status = 'sent' AND NEW.subscriber_id = {who} "
                                f"BEGIN SELECT RAISE(ABORT, 'could not write: disk full'); END"))
    db.session.commit()


def test_a_connection_thread_that_dies_fails_its_job_for_rqs_failed_registry(app: Flask, relay: ScriptedRelay) -> None:
    addresses = ["a@example.jp", "b@example.jp", "c@example.jp"]  # one batch (KAIRAN_SEND_BATCH_SIZE is 4)
    with app.app_context():
        list_id = seed(addresses)
        refuse_to_record_sent("b@example.jp")
        campaign_id = start_campaign(list_id)
    run_jobs(app)  # a real RQ worker
    with app.app_context():
        failed = FailedJobRegistry(queue=queue(SEND_QUEUE))
        (job_id,) = failed.get_job_ids()
        job = Job.fetch(job_id, connection=redis())
        assert job.func_name == "mailer.batch_job.send_batch"
        assert "send connections stopped" in (job.latest_result().exc_string or "")  # type: ignore[union-attr]
        assert "disk full" in (job.latest_result().exc_string or "")  # type: ignore[union-attr]
        rows = deliveries(campaign_id)
        assert rows["b@example.jp"].status == DeliveryStatus.QUEUED  # back in the queue, not left leased
        assert rows["b@example.jp"].leased_until is None
        assert status_of(campaign_id) == CampaignStatus.RUNNING  # the reconciler queues what is left
    assert relay.accepted["b@example.jp"] == 1  # it went out: only its record failed


def test_a_throttled_domain_waits_spaced_out_while_the_others_go(app: Flask, relay: ScriptedRelay) -> None:
    slow = [f"r{n}@slow.example" for n in range(4)]
    with app.app_context():
        campaign_id = start_campaign(seed([*slow, "a@example.jp", "b@example.jp"]))
    run_jobs(app)
    sent_slow = [address for address in relay.accepted if address.endswith("@slow.example")]
    assert len(sent_slow) == 1 and relay.total() == 3  # 6 a minute: one of them now, and the other domain's two
    with app.app_context():
        waiting = sorted(d.retry_at or utcnow() for d in deliveries(campaign_id).values()
                         if d.status == DeliveryStatus.QUEUED)
        assert len(waiting) == 3
        gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(waiting)]
        assert all(9 <= gap <= 11 for gap in gaps), gaps  # a token every 10 s, one after the other
        assert all(d.attempts == 0 for d in deliveries(campaign_id).values())  # waiting is not failing
        assert ScheduledJobRegistry(queue=queue(SEND_QUEUE)).get_job_ids()


def test_the_reconciler_queues_again_what_a_flushed_redis_forgot(app: Flask, relay: ScriptedRelay) -> None:
    addresses = [f"reader{n}@example.jp" for n in range(10)]
    with app.app_context():
        campaign_id = start_campaign(seed(addresses))
        assert sending.reconcile() == 0  # its jobs are queued: nothing to add
        redis().flushall()
        assert sending.reconcile() == 3  # 10 due deliveries in batches of 4
        assert sending.reconcile() == 0
    run_jobs(app)
    assert relay.accepted == dict.fromkeys(addresses, 1)
    with app.app_context():
        assert status_of(campaign_id) == CampaignStatus.FINISHED


def test_quiet_hours_hold_the_batch_until_they_end(app: Flask, relay: ScriptedRelay) -> None:
    with app.app_context():
        timezone = ZoneInfo(app.config["KAIRAN"].timezone)  # quiet hours are in the installation's timezone
        around_now = [(utcnow() + timedelta(hours=hours)).astimezone(timezone).strftime("%H:%M") for hours in (-1, 1)]
        campaign_id = start_campaign(seed(["a@example.jp"]), quiet_start=around_now[0], quiet_end=around_now[1])
    run_jobs(app)
    assert relay.total() == 0
    with app.app_context():
        assert deliveries(campaign_id)["a@example.jp"].status == DeliveryStatus.QUEUED  # nothing claimed
        assert len(ScheduledJobRegistry(queue=queue(SEND_QUEUE)).get_job_ids()) == 1  # it runs at the end


def test_quiet_hours_run_past_midnight() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    late = datetime(2026, 11, 23, 23, 30, tzinfo=tokyo)
    assert quiet_until(late, "22:00", "08:00", "Asia/Tokyo") == datetime(2026, 11, 24, 8, 0, tzinfo=tokyo)
    early = datetime(2026, 11, 24, 7, 59, tzinfo=tokyo)
    assert quiet_until(early, "22:00", "08:00", "Asia/Tokyo") == datetime(2026, 11, 24, 8, 0, tzinfo=tokyo)
    assert quiet_until(datetime(2026, 11, 24, 8, 0, tzinfo=tokyo), "22:00", "08:00", "Asia/Tokyo") is None
    assert quiet_until(late, None, None, "Asia/Tokyo") is None


def test_buckets_take_from_all_or_none(app: Flask) -> None:
    with app.app_context():
        throttle = Throttle(redis())
        fast, slow = Bucket("fast", per_second=100, burst=100), Bucket("slow", per_second=2, burst=2)
        assert throttle.take([fast, slow]) is None and throttle.take([fast, slow]) is None
        wait = throttle.take([fast, slow])
        assert wait is not None and wait.bucket == slow and 0 < wait.seconds <= 0.5
        level = float(redis().hget("kairan:rate:fast", "level") or 0)
        assert 97 <= level < 99  # the refused take left the fast bucket as it was
        time.sleep(wait.seconds)
        assert throttle.take([fast, slow]) is None
