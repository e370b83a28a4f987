"""A campaign sent by several hosts: real ``flask worker`` processes, each with a data folder of its own, sharing
the test's database and Redis, sending to a scripted relay on loopback.

- A host that dies mid-send: its rows are sent again within 30 s (its lease lapses unrenewed and the periodic
  take-back queues them first in line), nothing is lost, and a copy sent again has its first try's Message-ID.
- A batch that sends for longer than its lease keeps it (the worker renews it): nothing is sent twice.
- A batch put off till later whose scheduled job no scheduler releases is still sent (the reconciler).
- The footer's sender details are the ones fixed where the campaign was started or scheduled, whatever a
  worker host's own settings say; each worker logs each batch's outcome under its name.
"""

from __future__ import annotations

import email
import re
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from core.db import db, utcnow
from mailer.layouts import default_template
from mailer.models import Campaign, CampaignStatus, ContentType, Delivery, DeliveryStatus
from mailer.sending import change_status
from tests.helpers import wait_until
from tests.mailer.helpers import Workers, seed, start_campaign
from tests.resources import free_port
from tests.scripted_relay import ScriptedRelay, start_relay

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 4
WEB_SENDER = {"KAIRAN_COMPANY_NAME": "回覧商事", "KAIRAN_POSTAL_ADDRESS": "大阪市北区梅田1-2-3",
              "KAIRAN_CONTACT": "info@kairan.example"}


@pytest.fixture
def relay_port() -> int:
    return free_port()


@pytest.fixture
def relay(relay_port: int) -> Iterator[ScriptedRelay]:
    handler, controller = start_relay(relay_port, delay=0.01)
    yield handler
    controller.stop()


@pytest.fixture
def settings_env(settings_env: dict[str, str], relay_port: int) -> dict[str, str]:
    """The web host's settings (the test's app): the sender's details; the reconciler out of the way, so what
    brings a dead host's rows back is the periodic take-back of lapsed leases."""
    return {**settings_env, **WEB_SENDER, "KAIRAN_SMTP_URL": f"smtp://127.0.0.1:{relay_port}",
            "KAIRAN_SEND_BATCH_SIZE": "20", "KAIRAN_SEND_CONNECTIONS": str(CONNECTIONS),
            "KAIRAN_RECONCILE_SECONDS": "3600", "KAIRAN_RETRY_BASE_SECONDS": "1"}


@pytest.fixture
def hosts(app: Flask, settings_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    """Worker hosts, each with a data folder of its own and no sender details (they live on the web host). One
    secret key for the deployment (on PostgreSQL a worker refuses to start without it): the web host's."""
    env = {key: value for key, value in settings_env.items() if key not in WEB_SENDER}
    pool = Workers({**env, "KAIRAN_SECRET_KEY": app.config["SECRET_KEY"]}, tmp_path, own_data_folders=True)
    yield pool
    pool.stop_all()


def addresses(count: int) -> list[str]:
    return [f"reader{n}@example.jp" for n in range(count)]


def states(app: Flask, campaign_id: int) -> dict[DeliveryStatus, int]:
    with app.app_context():
        rows = db.session.execute(select(Delivery.status, func.count()).where(
            Delivery.campaign_id == campaign_id).group_by(Delivery.status)).all()
        return {DeliveryStatus(state): int(count) for state, count in rows}


def status(app: Flask, campaign_id: int) -> CampaignStatus:
    with app.app_context():
        return db.session.scalars(select(Campaign.status).where(Campaign.id == campaign_id)).one()


def header(message: bytes, name: str) -> str:
    return str(email.message_from_bytes(message, policy=default_policy)[name])


def text_of(message: bytes) -> str:
    parsed = email.message_from_bytes(message, policy=default_policy)
    return "".join(part.get_content() for part in parsed.walk() if part.get_content_type() == "text/plain")


def test_a_dead_hosts_rows_are_sent_again_within_30_seconds_with_their_message_ids(
        app: Flask, relay: ScriptedRelay, hosts: Workers) -> None:
    relay.accept_delay = 0.2  # a message is mostly in flight between the relay taking it and the host hearing so
    victim, survivor = hosts.start(), hosts.start()
    readers = addresses(300)
    with app.app_context():
        campaign_id = start_campaign(seed(readers))
    wait_until(lambda: relay.total() >= 60, 60)
    assert relay.total() < len(readers), "the host must die mid-send"
    with app.app_context():
        in_flight = set(db.session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign_id,
                                                                     Delivery.status == DeliveryStatus.SENDING)))
    hosts.kill(victim)
    died = time.monotonic()

    def in_flight_sent() -> bool:
        with app.app_context():
            return not db.session.scalar(select(func.count()).where(
                Delivery.id.in_(in_flight), Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING])))

    wait_until(in_flight_sent, 60)
    back_in = time.monotonic() - died
    wait_until(lambda: status(app, campaign_id) == CampaignStatus.FINISHED, 60)
    assert states(app, campaign_id) == {DeliveryStatus.SENT: len(readers)}
    assert [reader for reader in readers if not relay.accepted[reader]] == []  # nothing lost
    copies = {reader: relay.messages[reader] for reader in readers if relay.accepted[reader] > 1}
    # At most one in flight per connection of the dead host; none when the kill fell between two of its messages
    # (tests/core/test_hosts.py holds the relay's answers, so a copy is always sent there).
    assert len(copies) <= CONNECTIONS, len(copies)
    for reader, messages in copies.items():  # a receiver can tell the copy sent again by its Message-ID
        assert len({header(message, "Message-ID") for message in messages}) == 1, reader
    assert back_in <= 30, back_in
    assert re.search(rf"\.{survivor.pid} mailer\.batch_job INFO: campaign {campaign_id} '11月号', deliveries \d+-\d+: "
                     r"\d+ sent in [\d.]+ s", hosts.log(survivor))


def test_a_batch_sending_for_longer_than_its_lease_keeps_it(app: Flask, relay: ScriptedRelay, hosts: Workers) -> None:
    relay.accept_delay = 0.25  # one connection takes 20 messages in ~5 s: longer than the 2 s lease
    for _host in range(2):  # the second is idle: it would take back, and send, rows whose lease lapsed
        hosts.start(KAIRAN_SEND_LEASE_SECONDS="2", KAIRAN_SEND_CONNECTIONS="1", KAIRAN_RECONCILE_SECONDS="1")
    readers = addresses(20)
    with app.app_context():
        campaign_id = start_campaign(seed(readers))
    wait_until(lambda: status(app, campaign_id) == CampaignStatus.FINISHED, 60)
    assert states(app, campaign_id) == {DeliveryStatus.SENT: len(readers)}
    assert {reader: relay.accepted[reader] for reader in readers} == dict.fromkeys(readers, 1)


def test_a_batch_put_off_is_sent_though_no_scheduler_releases_it(app: Flask, relay: ScriptedRelay,
                                                                 hosts: Workers) -> None:
    relay.answers = {"reader1@example.jp": ["451 4.7.1 Greylisted, please try again later"]}
    hosts.start("--without-scheduler", KAIRAN_RECONCILE_SECONDS="2")  # nothing releases the retry's job
    readers = addresses(5)
    with app.app_context():
        campaign_id = start_campaign(seed(readers))
    wait_until(lambda: status(app, campaign_id) == CampaignStatus.FINISHED, 60)
    assert states(app, campaign_id) == {DeliveryStatus.SENT: len(readers)}
    assert relay.accepted["reader1@example.jp"] == 1


def test_every_host_prints_the_sender_details_fixed_where_the_campaign_was_started(
        app: Flask, relay: ScriptedRelay, hosts: Workers) -> None:
    worker = hosts.start()  # a worker host whose environment has no KAIRAN_POSTAL_ADDRESS nor KAIRAN_CONTACT
    with app.app_context():
        sent_now = start_campaign(seed(["now@example.jp"]))  # "Send now" on the web host
        later = Campaign(name="予約", subject="お知らせ", content_type=ContentType.PLAIN,
                         body="{{ subscriber.name }}様", lists=[seed(["later@example.jp"])],
                         from_email="news@kairan.example", send_at=utcnow() + timedelta(seconds=3),
                         template=default_template())
        db.session.add(later)
        db.session.commit()
        change_status(later, "scheduled")  # started by the worker host's scheduler, at its time
        later_id = later.id
    for campaign_id in (sent_now, later_id):
        wait_until(lambda: status(app, campaign_id) == CampaignStatus.FINISHED, 60)  # noqa: B023
    for reader in ("now@example.jp", "later@example.jp"):
        footer = text_of(relay.messages[reader][0])
        assert "回覧商事" in footer and "大阪市北区梅田1-2-3" in footer and "info@kairan.example" in footer, footer
    with app.app_context():
        fixed = db.session.get(Campaign, later_id)
        assert fixed is not None
        assert (fixed.sender_name, fixed.sender_address, fixed.sender_contact) == tuple(WEB_SENDER.values())
    assert f"{socket.gethostname()}.{worker.pid} mailer.batch_job INFO: campaign {sent_now} '11月号', deliveries " \
           in hosts.log(worker)
