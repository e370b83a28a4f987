"""Benchmark: CSV import through the real RQ job, on SQLite (default) or PostgreSQL.

Generates a CP932 file as Excel writes it (Japanese names, carrier addresses, 5% duplicate
rows, 1% broken rows), imports it with a burst RQ worker, and prints one JSON line, last:
{"rows", "seconds", "rows_per_s", "peak_rss_mb", "imported", "errors", ...}, with the CPU seconds the
job took in this process and, on PostgreSQL, in this database's server processes: unlike the
wall clock, those barely move when other work shares the machine.
Run: .venv/bin/python -m bench.import_csv --rows 1000000 [--database-url URL]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import time
from pathlib import Path

from flask_migrate import upgrade
from rq import SimpleWorker

from app import create_app
from bench import scratch_folder
from bench.cpu import own_seconds, postgres_backends, process_seconds
from core.db import db
from core.embedded import private_redis
from core.queues import queue, redis
from lists.import_job import start
from lists.imports import configure, get_import, upload
from lists.queues import IMPORT_QUEUE
from lists.services import create_list
from tests.resources import fresh_postgres

FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田"]
GIVEN = ["太郎", "花子", "一郎", "美咲", "健太", "陽菜", "翔", "結衣", "大輔", "さくら"]
DOMAINS = ["docomo.ne.jp", "ezweb.ne.jp", "softbank.ne.jp", "i.softbank.jp", "gmail.com", "yahoo.co.jp",
           "example.co.jp", "icloud.com"]
PREFECTURES = ["東京都", "大阪府", "北海道", "福岡県", "愛知県", "京都府", "沖縄県"]


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """Write the test file, streaming (memory stays flat whatever the row count)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    with path.open("w", encoding="cp932", newline="") as out:
        out.write("メールアドレス,氏名,都道府県,会員番号\r\n")
        for i in range(rows):
            roll = rng.random()
            if roll < 0.01:
                out.write(f"broken-row-{i}\r\n")  # one column instead of four
                continue
            n = rng.randrange(i) if roll < 0.06 and i else i  # 5% repeat an earlier address
            domain = DOMAINS[n % len(DOMAINS)]
            local = f"user{n}" if n % 50 else f"user..{n}."  # some carrier legacy forms
            if domain not in ("docomo.ne.jp", "ezweb.ne.jp"):
                local = f"user{n}"
            name = FAMILY[n % len(FAMILY)] + GIVEN[n % len(GIVEN)]
            out.write(f"{local}@{domain},{name},{PREFECTURES[n % len(PREFECTURES)]},{n}\r\n")


def main() -> None:
    """Generate, import, measure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = scratch_folder("import")
    csv_path = folder / "members.csv"
    write_csv(csv_path, args.rows)
    (folder / "redis").mkdir()
    with private_redis(folder / "redis") as redis_url:
        database = fresh_postgres(args.database_url) if args.database_url else f"sqlite:///{folder / 'kairan.db'}"
        app = create_app({"KAIRAN_DATA_DIR": str(folder / "data"), "KAIRAN_REDIS_URL": redis_url,
                          "KAIRAN_DATABASE_URL": database})
        with app.app_context():
            upgrade()
            news = create_list({"name": "会員"})
            with csv_path.open("rb") as fh:
                imp = upload(fh, csv_path.name, "bench")
            configure(imp, {"lists": [news.id], "mapping": [
                {"target": "email"}, {"target": "name"},
                {"target": "attribute", "key": "pref", "type": "text"},
                {"target": "attribute", "key": "member", "type": "number"}]})
            start(imp, "ja")
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            postgres = db.engine.dialect.name == "postgresql"
            server_before = process_seconds(postgres_backends()) if postgres else {}
            started, cpu_started, process_started = time.perf_counter(), own_seconds(), time.process_time()
            gc.freeze()  # as `flask worker` does once loaded (core/cli.py), whose jobs this stands for
            SimpleWorker([queue(IMPORT_QUEUE)], connection=redis()).work(burst=True)
            seconds, cpu_used = time.perf_counter() - started, own_seconds() - cpu_started
            server_after = process_seconds(postgres_backends()) if postgres else {}
            imp = get_import(imp.id)
            result = {
                "benchmark": "import_csv", "database": db.engine.dialect.name, "rows": args.rows,
                "file_mb": round(csv_path.stat().st_size / 2**20, 1), "seconds": round(seconds, 2),
                "rows_per_s": round(args.rows / seconds), "status": imp.status.value,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "rss_before_import_mb": round(rss_before, 1),
                # The reader process is forked from this one: most of its pages are shared with it.
                "reader_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
                "imported": imp.imported, "errors": imp.failed,
                "cpu_s": round(cpu_used, 2),  # job process and reader
                "job_process_cpu_s": round(time.process_time() - process_started, 2),
                "db_cpu_s": round(sum(used - server_before.get(pid, 0.0) for pid, used in server_after.items()), 2)
                if postgres else None,
                "load": round(os.getloadavg()[0], 1),
            }
            db.engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
