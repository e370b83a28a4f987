"""The import job across several batches: the file is read and checked in a reader process while this
one writes."""

from __future__ import annotations

import io
import multiprocessing
import threading
import time
from datetime import UTC, datetime

from flask import Flask
from rq import SimpleWorker
from sqlalchemy import func, select

from core.db import db
from core.queues import queue, redis
from lists import import_files
from lists.import_job import run_import, start
from lists.import_reader import BATCH_ROWS
from lists.imports import configure, first_errors, get_import, upload
from lists.models import ConsentRecord, Import, ImportFile, ImportStatus, Subscriber, Subscription
from lists.queries import is_sqlite, search_condition
from lists.queues import IMPORT_QUEUE
from lists.services import create_list


def queued_import(app: Flask, lines: list[str]) -> int:
    """Upload and configure an import of email,name rows to a new list; return its id (nothing runs yet)."""
    with app.app_context():
        news = create_list({"name": "会員"})
        imp = upload(io.BytesIO(("email,name\r\n" + "\r\n".join(lines) + "\r\n").encode()), "会員.csv", "editor")
        configure(imp, {"lists": [news.id], "mapping": [{"target": "email"}, {"target": "name"}]})
        return imp.id


def test_several_batches_with_bad_rows_reported_in_the_import_language(app: Flask) -> None:
    rows = 2 * BATCH_ROWS + 1000
    lines = [f"user{i}@example.jp,会員{i}" if i % 1000 else f"bad{i},x" for i in range(1, rows + 1)]
    lines.append("user7@EXAMPLE.jp,七")  # the same address again, in the last batch: merged
    with app.app_context():
        news = create_list({"name": "会員"})
        imp = upload(io.BytesIO(("email,name\r\n" + "\r\n".join(lines) + "\r\n").encode()), "会員.csv", "editor")
        configure(imp, {"lists": [news.id], "mapping": [{"target": "email"}, {"target": "name"}], "overwrite": True})
        start(imp, "ja")
        SimpleWorker([queue(IMPORT_QUEUE)], connection=redis()).work(burst=True)
        imp = get_import(imp.id)
        bad = rows // 1000
        assert (imp.status, imp.done, imp.failed, imp.total) == (ImportStatus.FINISHED, rows + 1, bad, rows + 1)
        people = rows - bad
        assert imp.imported == people + 1  # the repeated address is written again, in its own batch
        # and after the first time (on PostgreSQL each address always goes to the same one of the writers)
        assert db.session.scalar(select(Subscriber.name).where(Subscriber.email_key == "user7@example.jp")) == "七"
        for model in (Subscriber, Subscription, ConsentRecord):
            assert db.session.scalar(select(func.count()).select_from(model)) == people
        errors = first_errors(imp, bad)
        assert [line for line, _reason, _row in errors] == [str(1 + i * 1000) for i in range(1, bad + 1)]
        assert errors[0][1] == "bad1000 はメールアドレスの形式ではありません（@ の前後に文字が必要です）。"
        # The search index holds every imported row, and keeps following the subscribers added after the
        # import (on SQLite the job set its row-by-row trigger aside inside each batch's transaction).
        db.session.add(Subscriber(email="later@example.jp", email_key="later@example.jp", name="後から", attribs={}))
        db.session.commit()
        for search, email in (("会員8", "user8@example.jp"), ("後から", "later@example.jp")):
            assert email in db.session.scalars(select(Subscriber.email).where(search_condition(search))).all()
        if is_sqlite():  # FTS5 compares its index with the rows of subscribers, and raises on a difference
            db.session.connection().exec_driver_sql(
                "INSERT INTO subscriber_search (subscriber_search, rank) VALUES ('integrity-check', 1)")


def test_cancel_while_running_stops_the_reader_and_keeps_written_batches(app: Flask) -> None:
    rows = 40 * BATCH_ROWS  # long enough to be cancelled after its first batch
    import_id = queued_import(app, [f"user{i}@example.jp,会員{i}" for i in range(rows)])
    job = threading.Thread(target=lambda: _run_in_app(app, import_id))
    job.start()
    with app.app_context():
        while db.session.get(Import, import_id).done == 0:  # type: ignore[union-attr]
            db.session.rollback()
            time.sleep(0.01)
        db.session.get(Import, import_id).cancel_requested = True  # type: ignore[union-attr]
        db.session.commit()
    job.join(timeout=60)
    assert not job.is_alive()
    assert multiprocessing.active_children() == []  # the reader process was stopped and reaped
    with app.app_context():
        imp = get_import(import_id)
        assert imp.status == ImportStatus.CANCELLED
        assert 0 < imp.done < rows
        # Each batch is one transaction: what was written is whole batches, each with its consent.
        written = db.session.scalar(select(func.count()).select_from(Subscriber))
        assert written == imp.imported and written % BATCH_ROWS == 0
        assert db.session.scalar(select(func.count()).select_from(ConsentRecord)) == written


def test_a_reader_failure_fails_the_import_saying_why(app: Flask) -> None:
    import_id = queued_import(app, ["taro@example.jp,太郎"])
    with app.app_context():
        get_import(import_id).encoding = "no-such-codec"  # configure() refuses it; a damaged row could hold it
        db.session.commit()
        start(get_import(import_id), "en")
        SimpleWorker([queue(IMPORT_QUEUE)], connection=redis()).work(burst=True)
        imp = get_import(import_id)
        assert imp.status == ImportStatus.FAILED
        assert imp.error == "LookupError: unknown encoding: no-such-codec"
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert not import_files.exists(import_id, ImportFile.UPLOAD)  # a failed import keeps no personal data
    assert multiprocessing.active_children() == []


def test_an_upload_gone_before_the_job_ran_fails_the_import(app: Flask) -> None:
    # The upload was deleted meanwhile (the sweep of abandoned uploads): failed, saying so, not left importing.
    import_id = queued_import(app, ["taro@example.jp,太郎"])
    with app.app_context():
        imp = get_import(import_id)
        import_files.remove(import_id, ImportFile.UPLOAD)
        start(imp, "ja")
        SimpleWorker([queue(IMPORT_QUEUE)], connection=redis()).work(burst=True)
        imp = get_import(import_id)
        assert imp.status == ImportStatus.FAILED
        assert imp.error == "アップロードされたファイルはもう残っていません。もう一度アップロードしてください。"


def _run_in_app(app: Flask, import_id: int) -> None:
    with app.app_context():
        get_import(import_id).status = ImportStatus.QUEUED
        db.session.commit()
        run_import(import_id, "en")


def test_an_address_another_writer_added_meanwhile_is_kept_and_the_rest_go_in(app: Flask) -> None:
    # The batch was looked up as all new, then someone added one of its addresses: PostgreSQL's COPY
    # fails on it and the batch goes in again through INSERT … ON CONFLICT (SQLite uses that at once).
    from lists.queries import db_time, insert_subscribers

    with app.app_context():
        db.session.add(Subscriber(email="taro@example.jp", email_key="taro@example.jp", name="先に", attribs={}))
        db.session.commit()
        stamp = db_time(datetime.now(UTC))
        rows = [(f"uuid-{n}", f"{n}@example.jp", f"{n}@example.jp", n, '{"会員": true}', "enabled", stamp, stamp)
                for n in ("hanako", "taro", "jiro")]
        written = insert_subscribers(rows)
        db.session.commit()
        people = {s.email_key: (s.name, s.attribs) for s in db.session.scalars(select(Subscriber))}
        assert people == {"taro@example.jp": ("先に", {}), "hanako@example.jp": ("hanako", {"会員": True}),
                          "jiro@example.jp": ("jiro", {"会員": True})}
        assert set(written) == set(people)
