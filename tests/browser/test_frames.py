"""Frames that show a whole message (the Outbox, the report's click map) are as tall as the message."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from mailer.outbox import Outbox
from tests.browser.helpers import ja_context, log_in
from tests.tracking.small_campaign import Sent

pytestmark = pytest.mark.browser


def assert_fits(page: Any, frame_selector: str, last_line: str) -> None:
    """The frame shows all of its message: as tall as the content, the last line inside the frame's box."""
    frame = page.locator(frame_selector)
    expect(frame).to_have_attribute("data-fitted", "true")
    content = page.frame_locator(frame_selector)
    height = frame.evaluate("(f) => f.contentDocument.documentElement.scrollHeight")
    box = frame.bounding_box()
    assert box["height"] >= height, (box, height)
    line = content.get_by_text(last_line).last.bounding_box()  # in the page's coordinates
    assert line is not None and line["y"] + line["height"] <= box["y"] + box["height"], (line, box)


def test_the_outbox_frame_shows_the_whole_message(browser: Any, live_server: str, app: Flask,
                                                  users: dict[str, str], capture: Outbox, screenshots: Path) -> None:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "長いお知らせ", "news@kairan.example", "taro@example.jp"
    paragraphs = "".join(f"<p>{n} 段落目のお知らせです。</p>" for n in range(1, 80))
    message.set_content("長いお知らせ")
    message.add_alternative(f"<html><body>{paragraphs}<p>フッターの最後の行です。</p></body></html>", subtype="html")
    key = capture.store(message.as_bytes(), "news@kairan.example", ["taro@example.jp"])
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "admin")
    page.goto(f"/outbox/{key}")
    assert_fits(page, "iframe[data-fit-content]", "フッターの最後の行です。")
    page.screenshot(path=str(screenshots / "frames-outbox.png"), full_page=True)
    context.close()


def test_the_click_map_shows_the_whole_message(browser: Any, live_server: str, app: Flask, sent: Sent,
                                               screenshots: Path) -> None:
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "viewer")
    page.goto(f"/campaigns/{sent.campaign_id}/report")
    page.locator(".clickmap-frame").scroll_into_view_if_needed()
    assert_fits(page, ".clickmap-frame", "お問い合わせ")  # the legal footer's last line
    page.screenshot(path=str(screenshots / "frames-click-map.png"), full_page=True)
    context.close()
