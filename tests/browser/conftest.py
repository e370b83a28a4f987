"""A live Kairan server and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from mailer.outbox import Outbox
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, csp_violations, ja_context
from tests.resources import free_port
from tests.tracking.small_campaign import Sent, behave, send_small_campaign


def _watch_csp(context: Any) -> Any:
    def record(message: Any) -> None:
        if "Content Security Policy" in message.text:
            csp_violations.append(f"{message.location.get('url')}: {message.text}")

    context.on("console", record)
    return context


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless chromium for the session, or a skip saying how to install it.

    Every context it opens reports what the content security policy blocked (no_csp_violations).
    """
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        new_context = browser.new_context
        browser.new_context = lambda *args, **kwargs: _watch_csp(new_context(*args, **kwargs))  # type: ignore[method-assign]
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def no_csp_violations() -> Iterator[None]:
    """Fail a browser test in which the content security policy blocked anything: the page was broken by it."""
    csp_violations.clear()
    yield
    assert csp_violations == []


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """Browser tests serve the app on KAIRAN_PORT, so the URLs it puts in mail and images load."""
    # Not one of the ports settings_env chose: their sockets are closed, so the system may hand one out again.
    taken = {settings_env["KAIRAN_CAPTURE_PORT"], settings_env["KAIRAN_BOUNCE_PORT"]}
    return {**settings_env, "KAIRAN_PORT": next(str(p) for p in iter(free_port, None) if str(p) not in taken)}


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Serve the test app on its KAIRAN_PORT in a thread; yield its base URL."""
    server = make_server("127.0.0.1", app.config["KAIRAN"].port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: KAIRAN_SCREENSHOTS when set (to look at them), else the test's tmp folder."""
    folder = Path(os.environ.get("KAIRAN_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page_ja(browser: Any, live_server: str) -> Iterator[Any]:
    """A page in a Japanese browser context."""
    context = ja_context(browser, live_server)
    yield context.new_page()
    context.close()


@pytest.fixture
def sent(app: Flask, users: dict[str, str], capture: Outbox) -> Sent:
    """The small campaign (tests/tracking/small_campaign.py), sent, opened, clicked, bounced, complained about."""
    client = app.test_client()
    campaign = send_small_campaign(app, client, capture)
    behave(app, client, campaign)
    return campaign
