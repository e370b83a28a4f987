"""A live Kairan server and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import make_server

from mailer.outbox import Outbox
from tests.conftest import PASSWORD
from tests.resources import free_port

CHROMIUM = shutil.which("chromium")
# Background networking off: this machine has no internet and Chromium's own calls would only fail.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


# What chromium said about the content security policy during the current test (see no_csp_violations).
csp_violations: list[str] = []


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
    return {**settings_env, "KAIRAN_PORT": str(free_port())}


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


def ja_context(browser: Any, live_server: str, width: int = 1280) -> Any:
    """A browser context of someone who reads Japanese, at this window width."""
    return browser.new_context(base_url=live_server, locale="ja-JP", extra_http_headers={"Accept-Language": "ja"},
                               viewport={"width": width, "height": 800})


@pytest.fixture
def page_ja(browser: Any, live_server: str) -> Iterator[Any]:
    """A page in a Japanese browser context."""
    context = ja_context(browser, live_server)
    yield context.new_page()
    context.close()


def log_in(page: Any, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form."""
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def mailed_link(outbox: Outbox, path: str) -> str:
    """The path and query of the link containing ``path`` in the newest captured mail.

    The mail links to KAIRAN_BASE_URL; the live server has its own port, so only path and query are kept.
    """
    entries, _total = outbox.page(1, 1)
    assert entries, "no mail was captured"
    message = outbox.get(entries[0].key)
    assert message is not None and message.text is not None
    link = urlsplit(next(word for word in message.text.split() if path in word))
    return f"{link.path}?{link.query}"
