"""Imports across machines, each with a data folder of its own, and how long an import's files are kept.

A "machine" here is an app (or a real `flask worker` process) with its own KAIRAN_DATA_DIR on the
shared database and Redis. Once a machine has done its part, its folder is moved out of reach, as
another machine's folder is: whatever the next one needs must be where every machine reaches it.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text, update

import lists.imports
from app import create_app
from core.db import db, utcnow
from core.queues import periodic_jobs, queue
from lists import import_files
from lists.import_files import CHUNK_BYTES
from lists.imports import first_errors, get_import, upload, upload_sample
from lists.models import Import, ImportChunk, ImportFile, ImportStatus, Subscriber
from lists.queues import IMPORT_QUEUE
from tests.helpers import Clock, login, run_jobs
from tests.lists.helpers import EXCEL_CSV, make_list, start_via_ui, upload_via_ui

ROOT = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT = 120  # seconds for a burst worker to start, import a few rows and stop, on a busy machine


@pytest.fixture
def machine(settings_env: dict[str, str], tmp_path: Path) -> Callable[[str], Flask]:
    """Make the app of another machine: the same database and Redis, a data folder of its own."""
    def make(name: str) -> Flask:
        return create_app({**settings_env, "KAIRAN_DATA_DIR": str(tmp_path / name), "TESTING": True})
    return make


@pytest.fixture
def sweep_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock the sweep of import files reads, moved forward by the test."""
    moved = Clock()
    monkeypatch.setattr(lists.imports, "utcnow", moved.now)
    return moved


def unplug(folder: Path) -> None:
    """Put a machine's data folder out of reach, after checking it holds nothing of an import."""
    assert not [path for path in folder.rglob("*") if path.suffix == ".csv"]
    folder.rename(folder.with_name(folder.name + "-gone"))


def run_worker(settings_env: dict[str, str], data_dir: Path, secret_key: str) -> None:
    """Run a real `flask worker` process on the import queue, with its own data folder, until the queue is empty."""
    # The deployment's one key (PostgreSQL's worker refuses to start without it), not one of its own folder's
    env = {**os.environ, **settings_env, "KAIRAN_DATA_DIR": str(data_dir), "KAIRAN_SECRET_KEY": secret_key}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "worker", "--burst", "import"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def editor(app: Flask) -> FlaskClient:
    client = app.test_client()
    login(client, "editor")
    return client


def test_a_worker_on_another_machine_imports_and_a_third_machine_shows_its_bad_rows(
        app: Flask, settings_env: dict[str, str], tmp_path: Path, machine: Callable[[str], Flask],
        users: dict[str, str]) -> None:
    news = make_list(app)
    web = editor(app)
    preview_url = upload_via_ui(web, EXCEL_CSV.encode("cp932"))
    assert start_via_ui(web, preview_url, lists=str(news), **{"col-3-type": "number"}).status_code == 302
    unplug(Path(settings_env["KAIRAN_DATA_DIR"]))
    run_worker(settings_env, tmp_path / "worker-host", app.config["SECRET_KEY"])
    unplug(tmp_path / "worker-host")

    other_web = editor(machine("web-2"))
    page = other_web.get(preview_url).get_data(as_text=True)
    assert "Finished" in page
    assert "Expected 4 columns, found 2." in page  # the bad rows the worker wrote, read here
    download = other_web.get(preview_url + "/errors.csv")
    assert download.status_code == 200 and download.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert rows[0] == ["line", "reason", "row"] and [row[0] for row in rows[1:]] == ["4", "6", "7"]
    with app.app_context():
        imp = db.session.scalars(select(Import)).one()
        assert (imp.status, imp.imported, imp.failed) == (ImportStatus.FINISHED, 3, 3)
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 3
        assert not import_files.exists(imp.id, ImportFile.UPLOAD)  # personal data gone once imported


def test_the_preview_and_the_mapping_work_on_another_web_machine(
        app: Flask, settings_env: dict[str, str], machine: Callable[[str], Flask], users: dict[str, str]) -> None:
    news = make_list(app)
    preview_url = upload_via_ui(editor(app), EXCEL_CSV.encode("cp932"))
    unplug(Path(settings_env["KAIRAN_DATA_DIR"]))
    second = machine("web-2")
    other_web = editor(second)
    preview = other_web.get(preview_url).get_data(as_text=True)
    assert "cp932 (detected)" in preview and "山田太郎" in preview
    assert "山田太郎" not in other_web.get(preview_url + "?encoding=utf-8").get_data(as_text=True)  # read anew
    assert start_via_ui(other_web, preview_url, lists=str(news), **{"col-3-type": "number"}).status_code == 302
    run_jobs(second)
    assert "Finished" in other_web.get(preview_url).get_data(as_text=True)
    with second.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 3


class BreaksOff(io.RawIOBase):
    """An upload whose sender goes away after a few megabytes."""

    def __init__(self, megabytes: int) -> None:
        self.left = megabytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self.left:
            raise ConnectionResetError("the sender went away")
        self.left -= 1
        rows = b"".join(b"user%07d@example.jp,x\r\n" % i for i in range(len(buffer) // 24 + 1))
        buffer[:] = rows[:len(buffer)]
        return len(buffer)


def test_an_upload_that_breaks_off_leaves_nothing_anywhere(app: Flask, settings_env: dict[str, str]) -> None:
    with app.app_context():
        with pytest.raises(ConnectionResetError):
            upload(io.BufferedReader(BreaksOff(3), buffer_size=CHUNK_BYTES), "会員.csv", "editor")
        assert db.session.scalar(select(func.count()).select_from(Import)) == 0
        assert db.session.scalar(select(func.count()).select_from(ImportChunk)) == 0
    files = [path for path in Path(settings_env["KAIRAN_DATA_DIR"]).rglob("*") if path.is_file()]
    assert not [path for path in files if b"@example.jp" in path.read_bytes()]  # no personal data left behind


def sweep(app: Flask) -> None:
    """Queue the periodic jobs as a worker does once a maintenance interval, and run them with a real worker."""
    with app.app_context():
        for periodic in periodic_jobs():
            queue(periodic.queue).enqueue(periodic.job)
    run_jobs(app)


def test_uploads_never_started_and_of_dead_workers_are_swept(app: Flask, client: FlaskClient, users: dict[str, str],
                                                            sweep_clock: Clock) -> None:
    news = make_list(app)
    login(client, "editor")
    abandoned = upload_via_ui(client, b"email\r\na@example.jp\r\n")
    stalled = upload_via_ui(client, b"email\r\nb@example.jp\r\n")
    start_via_ui(client, stalled, lists=str(news))
    stalled_id = int(stalled.rsplit("/", 1)[1])
    with app.app_context():  # a worker took its job and started it, then was killed: nothing will ever end it
        queue(IMPORT_QUEUE).empty()
        db.session.execute(update(Import).where(Import.id == stalled_id).values(status=ImportStatus.IMPORTING))
        db.session.commit()
    sweep_clock.advance(59 * 60)
    sweep(app)
    with app.app_context():
        assert [imp.status for imp in db.session.scalars(select(Import).order_by(Import.id))] == [
            ImportStatus.PENDING, ImportStatus.IMPORTING]
        assert db.session.scalar(select(func.count(func.distinct(ImportChunk.import_id)))) == 2
    sweep_clock.advance(2 * 60)  # an hour without progress: its worker is dead
    sweep(app)
    assert "The worker running this import stopped." in client.get(stalled).get_data(as_text=True)
    assert "Cancel import" not in client.get(stalled).get_data(as_text=True)
    assert "First rows, and what each column holds" in client.get(abandoned).get_data(as_text=True)  # still waiting
    sweep_clock.advance(24 * 3600)  # a day after its upload, nobody started it
    sweep(app)
    assert "Cancelled" in client.get(abandoned).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImportChunk)) == 0
        assert get_import(stalled_id).status == ImportStatus.FAILED
    # Nothing blocks the next import.
    assert start_via_ui(client, upload_via_ui(client, b"email\r\nc@example.jp\r\n"), lists=str(news)).status_code == 302
    run_jobs(app)
    with app.app_context():
        assert db.session.scalars(select(Subscriber.email)).all() == ["c@example.jp"]


def test_bad_rows_are_kept_thirty_days_after_the_import(app: Flask, client: FlaskClient, users: dict[str, str],
                                                        sweep_clock: Clock) -> None:
    news = make_list(app)
    login(client, "editor")
    preview_url = upload_via_ui(client, b"email\r\na@example.jp\r\nnot-an-address\r\n")
    start_via_ui(client, preview_url, lists=str(news))
    run_jobs(app)
    page = client.get(preview_url).get_data(as_text=True)
    assert "not-an-address" in page and "Bad rows are kept for 30 days after the import ends." in page
    sweep_clock.advance(29 * 24 * 3600)
    sweep(app)
    assert client.get(preview_url + "/errors.csv").status_code == 200
    sweep_clock.advance(2 * 24 * 3600)
    sweep(app)
    assert "not-an-address" not in client.get(preview_url).get_data(as_text=True)
    assert client.get(preview_url + "/errors.csv").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImportChunk)) == 0


@pytest.mark.unmigrated
def test_the_migration_moves_the_files_of_this_machines_folder_into_the_database(
        settings_env: dict[str, str], tmp_path: Path) -> None:
    folder = Path(settings_env["KAIRAN_DATA_DIR"]) / "imports"
    folder.mkdir(parents=True)
    waiting, finished = folder / "waiting.csv", folder / "finished.csv"
    waiting.write_bytes("メール\r\na@example.jp\r\nb@example.jp".encode("cp932"))
    bad_rows = folder / "finished.errors.csv"
    bad_rows.write_bytes("\ufeffline,reason,row\r\n3,not an address,x\r\n".encode())
    app = create_app({**settings_env, "TESTING": True})
    with app.app_context():
        upgrade(revision="0023")
        with db.engine.begin() as connection:
            for status, path in (("pending", waiting), ("finished", finished), ("pending", folder / "elsewhere.csv")):
                connection.execute(text(
                    "INSERT INTO imports (file_name, path, encoding, delimiter, mapping, mode, overwrite, list_ids, "
                    "subscription_status, status, total, done, imported, failed, cancel_requested, error, created_by, "
                    "created_at, updated_at) VALUES ('会員.csv', :path, 'cp932', ',', '[]', 'subscribe', false, '[]', "
                    "'confirmed', :status, 0, 0, 0, 0, false, '', 'editor', :now, :now)"),
                    {"path": str(path), "status": status, "now": utcnow()})
        upgrade()
        assert list(folder.iterdir()) == []  # personal data: moved, not copied
        pending, ended, gone = db.session.scalars(select(Import).order_by(Import.id)).all()
        assert (pending.status, pending.total) == (ImportStatus.PENDING, 2)  # counted, as an upload now is
        assert upload_sample(pending) == "メール\r\na@example.jp\r\nb@example.jp".encode("cp932")
        assert first_errors(ended, 10) == [["3", "not an address", "x"]]
        assert gone.status == ImportStatus.CANCELLED  # its upload is on another machine: nobody can start it
        if db.engine.dialect.name == "sqlite":  # the table made again to drop a column keeps its AUTOINCREMENT
            assert "AUTOINCREMENT" in db.session.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'imports'"))
        db.session.remove()
        downgrade(revision="0023")
        upgrade()
        assert [imp.status for imp in db.session.scalars(select(Import).order_by(Import.id))] == [
            ImportStatus.CANCELLED, ImportStatus.FINISHED, ImportStatus.CANCELLED]
        db.session.remove()
        db.engine.dispose()
