"""The write path of the pixel and the redirect under concurrency: group-committed XADDs, and a dying web process.

Real gunicorn (the worker class and threads `make up` runs), real redis-server, real flusher:
- a web process killed (SIGKILL, master and workers) right after it answered loses no event it answered for;
- events from many threads at once all reach the stream, in fewer round trips than events;
- the writer's connection closed by Redis while idle (a restart, CLIENT KILL) is opened again, losing nothing;
- an XADD Redis refuses (here: the stream's key holds a string) loses that event only, the pixel and the
  redirect still answer, and the events after it are stored (the replies stay paired with their XADDs).
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.db import db
from core.embedded import port_answers, web_argv
from core.queues import redis
from mailer.outbox import Outbox
from tests.resources import free_port
from tests.tracking.helpers import BROWSER, Tracked, recorded, send_tracked_campaign
from tracking.flush import flush_events
from tracking.models import EventKind, TrackingEvent
from tracking.stream import STREAM, Hit, writer_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sent(app: Flask, client: FlaskClient, capture: Outbox) -> Tracked:
    """A campaign with two links sent to one reader per behaviour (send_tracked_campaign)."""
    return send_tracked_campaign(app, client, capture)


@pytest.fixture
def web(app: Flask, settings_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Kairan under gunicorn as `make up` runs it, in its own process group; yield it and its port."""
    port = free_port()
    shared = {"KAIRAN_SECRET_KEY": app.config["SECRET_KEY"]}  # the test app's: PostgreSQL's web process needs one
    process = subprocess.Popen(web_argv(port), cwd=ROOT, env={**os.environ, **settings_env, **shared},
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not port_answers(port):
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield process, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_web_process_killed_right_after_answering_loses_no_event(
        app: Flask, sent: Tracked, web: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = web
    paths = [path for pixel, links in sent.values() for path in (pixel, *links)]
    answered: list[int] = []
    lock = threading.Lock()

    def reader(offset: int) -> None:  # a mail client on a keep-alive connection
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for number in range(25):
            connection.request("GET", paths[(offset + number) % len(paths)], headers={"User-Agent": BROWSER})
            response = connection.getresponse()
            response.read()
            if response.status in (200, 302):
                with lock:
                    answered.append(response.status)
        connection.close()

    readers = [threading.Thread(target=reader, args=(n,)) for n in range(16)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join()
    os.killpg(process.pid, signal.SIGKILL)  # the moment the last answer arrived: no clean shutdown, nothing flushed
    process.wait()
    assert len(answered) == 16 * 25
    with app.app_context():
        while flush_events():
            pass
        assert db.session.scalar(select(func.count()).select_from(TrackingEvent)) == len(answered)


def test_events_from_many_threads_all_arrive_in_fewer_round_trips(app: Flask) -> None:
    writer = writer_for(app)
    with app.app_context():
        client = redis()
    reads_before = int(client.info("stats")["total_reads_processed"])
    start = threading.Barrier(16)

    def request(number: int) -> None:
        start.wait()
        for each in range(50):
            writer.append(Hit(EventKind.OPEN, number * 100 + each, None, BROWSER, "192.0.2.1", head=False,
                              prefetch=False))

    threads = [threading.Thread(target=request, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries: Any = client.xrange(STREAM)
    assert sorted(int(fields[b"d"]) for _id, fields in entries) == sorted(
        number * 100 + each for number in range(16) for each in range(50))
    reads = int(client.info("stats")["total_reads_processed"]) - reads_before
    assert reads < len(entries) * 0.9  # one read per round trip (and one for each INFO)


def test_an_event_redis_refuses_is_lost_alone_and_the_next_ones_are_stored(
        app: Flask, client: FlaskClient, sent: Tracked, caplog: pytest.LogCaptureFixture) -> None:
    pixel, links = sent["person"]
    with app.app_context():
        redis().set(STREAM, "not a stream")  # XADD answers WRONGTYPE
    refused = client.get(pixel, headers={"User-Agent": BROWSER})
    assert refused.status_code == 200 and refused.data.startswith(b"GIF89a")
    assert "Redis did not take 1 open or click event(s)" in caplog.text and "WRONGTYPE" in caplog.text
    with app.app_context():
        redis().delete(STREAM)
    assert client.get(links[0], headers={"User-Agent": BROWSER}).status_code == 302
    assert client.get(pixel, headers={"User-Agent": BROWSER}).status_code == 200
    with app.app_context():
        assert flush_events() == 2
    assert [(kind, human) for _name, kind, human, _rule in recorded(app)] == [("click", True), ("open", True)]


def test_a_connection_redis_closed_while_idle_is_opened_again(app: Flask) -> None:
    writer = writer_for(app)
    with app.app_context():
        client = redis()
    writer.append(Hit(EventKind.OPEN, 1, None, BROWSER, "192.0.2.1", head=False, prefetch=False))
    assert client.client_kill_filter(_type="normal", skipme=True) >= 1  # the writer's connection among them
    writer.append(Hit(EventKind.CLICK, 2, 7, BROWSER, "192.0.2.1", head=False, prefetch=False))
    entries: Any = client.xrange(STREAM)
    assert [(fields[b"k"], fields[b"d"], fields.get(b"l")) for _id, fields in entries] == [
        (b"open", b"1", None), (b"click", b"2", b"7")]
