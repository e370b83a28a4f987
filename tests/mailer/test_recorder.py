"""The send's Recorder: connections of one job commit their records together, each returning once its own is in."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from sqlalchemy import event, select

from core.db import db
from mailer.models import Campaign, Delivery, DeliveryStatus
from mailer.queries import Recorder

CONNECTIONS = 8


def deliveries(app: Flask, count: int) -> list[int]:
    with app.app_context():
        campaign = Campaign(name="記録", subject="お知らせ", lists=[])
        db.session.add(campaign)
        db.session.flush()
        rows = [Delivery(campaign_id=campaign.id, subscriber_id=None, status=DeliveryStatus.SENDING)
                for _ in range(count)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def in_threads(app: Flask, work: list[Any]) -> list[BaseException | None]:
    """Run each callable in its own thread with its own app context (as the send's connections do)."""
    outcomes: list[BaseException | None] = [None] * len(work)

    def run(number: int) -> None:
        with app.app_context():
            try:
                work[number]()
            except Exception as error:  # noqa: BLE001 - collected for the assertions
                outcomes[number] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


class WatchedTurn(threading.Condition):
    """The Recorder's turn, telling the test each time a connection parks to wait for a commit."""

    def __init__(self) -> None:
        super().__init__()
        self.parked = threading.Semaphore(0)

    def wait(self, timeout: float | None = None) -> bool:
        self.parked.release()
        return super().wait(timeout)


def test_records_arriving_together_share_a_commit_and_each_returns_once_its_own_is_in(app: Flask) -> None:
    ids = deliveries(app, CONNECTIONS)
    recorder = Recorder()
    recorder.turn = turn = WatchedTurn()
    commits: list[int] = []
    with app.app_context():
        engine = db.engine

    def first_commit_waits_for_the_others(_connection: Any) -> None:
        commits.append(1)
        if len(commits) == 1:  # the first committer holds its turn until every other connection queued behind it
            for _ in range(CONNECTIONS - 1):
                assert turn.parked.acquire(timeout=30), "a connection never queued for the next commit"

    event.listen(engine, "commit", first_commit_waits_for_the_others)
    try:
        def send(delivery_id: int) -> Any:
            return lambda: recorder.record(delivery_id, DeliveryStatus.SENT, message_id=f"<{delivery_id}@k>")
        outcomes = in_threads(app, [send(delivery_id) for delivery_id in ids])
    finally:
        event.remove(engine, "commit", first_commit_waits_for_the_others)
    assert outcomes == [None] * CONNECTIONS
    with app.app_context():
        rows = db.session.execute(select(Delivery.status, Delivery.message_id, Delivery.sent_at)
                                  .where(Delivery.id.in_(ids))).all()
    assert all(status == DeliveryStatus.SENT and message_id and sent_at for status, message_id, sent_at in rows)
    assert len(rows) == CONNECTIONS
    assert len(commits) == 2  # the first alone, then the seven that queued behind it, together


def test_a_failed_commit_is_raised_in_every_connection_that_shared_it(app: Flask) -> None:
    ids = deliveries(app, 3)
    recorder = Recorder()
    with app.app_context():
        engine = db.engine

    def refuse(_connection: Any) -> None:
        raise RuntimeError("the database went away")

    event.listen(engine, "commit", refuse)
    try:
        outcomes = in_threads(app, [lambda d=d: recorder.record(d, DeliveryStatus.SENT) for d in ids])
    finally:
        event.remove(engine, "commit", refuse)
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    with app.app_context():  # nothing recorded: the leases bring them back, as after a killed worker
        assert set(db.session.scalars(select(Delivery.status).where(Delivery.id.in_(ids)))) == {
            DeliveryStatus.SENDING}
    # The recorder is usable again afterwards.
    with app.app_context():
        recorder.record(ids[0], DeliveryStatus.FAILED, reply="550 5.1.1 User unknown")
        assert db.session.get(Delivery, ids[0]).status == DeliveryStatus.FAILED  # type: ignore[union-attr]

