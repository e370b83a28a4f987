"""What tests in every package share: signing in, forms, API users, running queued jobs, reading what was stored.

Fixtures live in the conftest.py of the folder whose tests use them; plain functions and constants live in
helper modules like this one, so no test module imports another."""

from __future__ import annotations

import base64
import io
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from html import unescape
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from rq import SimpleWorker
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db, utcnow
from core.queues import WORKER_QUEUES, queue, redis
from core.users import create_api_user
from lists.models import Subscriber

PASSWORD = "correct horse battery"
ROLES = ("admin", "editor", "viewer")
# Each start a spreadsheet reads as a formula (OWASP's list, and LF).
FORMULAS = ["=1+2", '=HYPERLINK("https://evil.example","x")', "+81", "-5", "@SUM(A1)", "\t=1", "\r=1", "\n=1"]
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def run_jobs(app: Flask) -> None:
    """Run every queued job with a real RQ worker, in burst mode, taking the queues in the workers' order."""
    with app.app_context():
        SimpleWorker([queue(name) for name in WORKER_QUEUES], connection=redis()).work(burst=True)


def subscriber(app: Flask, email: str) -> Subscriber:
    """The subscriber with this address, with their subscriptions loaded."""
    with app.app_context():
        found = db.session.scalars(select(Subscriber).where(Subscriber.email_key == email)).one()
        _ = [(s.mailing_list.name, s.status) for s in found.subscriptions]  # load before the context ends
        db.session.expunge(found)
        return found


def statuses(app: Flask, email: str) -> dict[str, str]:
    """List name → subscription status of the subscriber with this address."""
    return {s.mailing_list.name: s.status.value for s in subscriber(app, email).subscriptions}


def csrf_token(client: FlaskClient, page: str) -> str:
    """Load a page and return the CSRF token of its form."""
    response = client.get(page)
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {page} (status {response.status_code})"
    return match.group(1)


def submit(client: FlaskClient, page: str, action: str | None = None, **data: Any) -> Any:
    """Post a form the way a browser would: token from the page, then the POST."""
    return client.post(action or page, data={"csrf_token": csrf_token(client, page), **data})


def login(client: FlaskClient, username: str, password: str = PASSWORD, **headers: str) -> Any:
    """Log in through the login form."""
    token = csrf_token(client, "/login")
    return client.post("/login", data={"csrf_token": token, "username": username, "password": password},
                       headers=headers)


def api_user(app: Flask, role: str = "viewer", name: str = "shop") -> str:
    """Create an API user and return its ``name:token`` pair."""
    with app.app_context():
        user, token = create_api_user(name, role)
        return f"{user.username}:{token}"


def basic(pair: str) -> dict[str, str]:
    """HTTP Basic credentials for a ``name:token`` pair, as listmonk's clients send them."""
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def png(width: int = 40, height: int = 20) -> bytes:
    """A real PNG image of this size."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "#d9480f").save(buffer, "PNG")
    return buffer.getvalue()


def text_of(html: str) -> str:
    """A page's text with tags and runs of white space collapsed, to look for figures in it."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class Clock:
    """The app's clock (core.db.utcnow as the two-factor code reads it), moved forward by the test."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def audit_entries(app: Flask, action: str | None = None) -> list[AuditEntry]:
    """The audit log's entries (of one action, or of one object's kind: "campaign"), oldest first, detached."""
    with app.app_context():
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action if "." in action
                              else AuditEntry.action.startswith(action + "."))
        found = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return found


def error_summary(html: str) -> tuple[str, list[tuple[str, str]]]:
    """A refused form's summary (templates' error_summary macro): its title, and its (field id, problem) links."""
    summary = html[html.index("data-error-summary"):]
    summary = summary[:summary.index("</div>\n</div>")]
    title = re.search(r'<h2 id="error-summary-title">([^<]+)</h2>', summary)
    assert title is not None
    return unescape(title.group(1)), [(field, unescape(text)) for field, text in
                                      re.findall(r'<a href="#([\w-]+)" data-field="\1">([^<]+)</a>', summary)]
