"""The audience pages in a real browser, in Japanese: list, subscriber, timeline, bulk action."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_ui import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def page_ja(browser: Any, live_server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server, locale="ja-JP", extra_http_headers={"Accept-Language": "ja"},
                                  viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def test_editor_builds_a_list_adds_subscribers_and_reads_a_timeline(page_ja: Any, users: dict[str, str],
                                                                     screenshots: Path) -> None:
    page = page_ja
    log_in(page, "editor")
    page.goto("/lists/")
    page.fill("input[name=name]", "月刊ニュース")
    page.select_option("select[name=optin]", "double")
    page.click("form[action='/lists/'] button[type=submit]")
    assert page.locator("h1").inner_text() == "月刊ニュース"

    for email, name in (("ｙａｍａｄａ＠example.jp", "山田太郎"), ("hanako..x.@docomo.ne.jp", "佐藤花子")):
        page.goto("/subscribers/")
        if not page.is_visible("input[name=new-email]"):
            page.click("summary:has-text('購読者を追加')")  # folded away once the list is not empty
        page.fill("input[name=new-email]", email)
        page.fill("input[name=new-name]", name)
        page.select_option("select[name=new-lists]", label="月刊ニュース")
        page.click("form[method=post][action='/subscribers/'] button[type=submit]")
        assert page.locator("h1").inner_text() == name

    # The carrier's legacy address was kept as typed; the timeline tells what happened, in Japanese.
    assert "hanako..x.@docomo.ne.jp" in page.inner_text("main")
    assert page.locator("ol.timeline li").first.inner_text().count("「月刊ニュース」を購読") == 1
    page.screenshot(path=str(screenshots / "subscriber-ja.png"), full_page=True)

    page.goto("/subscribers/")
    assert page.locator("#result-count").inner_text() == "2 人の購読者"
    page.check("input[aria-label='yamada@example.jp']")
    page.select_option("select[name=action]", "unsubscribe")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bulk-form .bulk button[type=submit]")
    page.wait_for_load_state()
    assert "1 人の購読者を変更しました。" in page.inner_text(".flash")
    assert page.locator("tr[data-email='yamada@example.jp'] .badge.state-unsubscribed").count() == 1
    page.screenshot(path=str(screenshots / "subscribers-ja.png"), full_page=True)

    page.goto("/lists/")
    page.screenshot(path=str(screenshots / "lists-ja.png"), full_page=True)
