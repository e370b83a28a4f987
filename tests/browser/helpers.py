"""What the browser tests share: Debian's chromium, Japanese browser contexts, logging in, mailed links."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mailer.outbox import Outbox
from tests.helpers import PASSWORD

CHROMIUM = shutil.which("chromium")
# Background networking off: this machine has no internet and Chromium's own calls would only fail.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# What chromium said about the content security policy during the current test (see no_csp_violations).
csp_violations: list[str] = []


def ja_context(browser: Any, live_server: str, width: int = 1280) -> Any:
    """A browser context of someone who reads Japanese, at this window width."""
    return browser.new_context(base_url=live_server, locale="ja-JP", extra_http_headers={"Accept-Language": "ja"},
                               viewport={"width": width, "height": 800})


def log_in(page: Any, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form."""
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def add_block(page: Any, label: str, into: Any = None) -> None:
    """Put a block into the canvas: select a column first (``into``), then click the block in the panel."""
    before = page.evaluate("kairanEditor.getHtml().length")
    if into is not None:
        into.click()
    page.locator(f".gjs-block[title='{label}']").click()
    page.wait_for_function(f"() => kairanEditor.getHtml().length > {before}")


def screenshot(page: Any, path: Path) -> None:
    """Save the whole page, its frames painted too (a full_page capture leaves sandboxed frames blank)."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": page.evaluate("document.documentElement.scrollHeight")})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


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
