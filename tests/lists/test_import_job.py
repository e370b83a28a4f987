"""The import job across several batches: the file is read in a thread one batch ahead of the writes."""

from __future__ import annotations

import io

from flask import Flask
from rq import SimpleWorker
from sqlalchemy import func, select

from core.db import db
from core.queues import QueueName, queue, redis
from lists.import_job import BATCH_ROWS
from lists.imports import configure, first_errors, get_import, start, upload
from lists.models import ConsentRecord, ImportStatus, Subscriber, Subscription
from lists.services import create_list


def test_several_batches_with_bad_rows_reported_in_the_import_language(app: Flask) -> None:
    rows = 2 * BATCH_ROWS + 1000
    lines = [f"user{i}@example.jp,会員{i}" if i % 1000 else f"bad{i},x" for i in range(1, rows + 1)]
    lines.append("user7@EXAMPLE.jp,七")  # the same address again, in the last batch: merged
    with app.app_context():
        news = create_list({"name": "会員"})
        imp = upload(io.BytesIO(("email,name\r\n" + "\r\n".join(lines) + "\r\n").encode()), "会員.csv", "editor")
        configure(imp, {"lists": [news.id], "mapping": [{"target": "email"}, {"target": "name"}]})
        start(imp, "ja")
        SimpleWorker([queue(QueueName.IMPORT)], connection=redis()).work(burst=True)
        imp = get_import(imp.id)
        bad = rows // 1000
        assert (imp.status, imp.done, imp.failed, imp.total) == (ImportStatus.FINISHED, rows + 1, bad, rows + 1)
        people = rows - bad
        assert imp.imported == people + 1  # the repeated address is written again, in its own batch
        for model in (Subscriber, Subscription, ConsentRecord):
            assert db.session.scalar(select(func.count()).select_from(model)) == people
        errors = first_errors(imp, bad)
        assert [line for line, _reason, _row in errors] == [str(1 + i * 1000) for i in range(1, bad + 1)]
        assert errors[0][1] == "bad1000 はメールアドレスの形式ではありません（@ の前後に文字が必要です）。"
