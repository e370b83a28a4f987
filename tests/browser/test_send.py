"""Sending from the browser, in Japanese: compose for lists and a segment, confirm, live progress, the Outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from lists.models import ConsentMethod
from lists.segments import save_segment
from lists.services import create_list
from lists.subscribers import Consent, create_subscriber
from mailer.outbox import Outbox
from tests.browser.helpers import ja_context, log_in
from tests.helpers import run_jobs

pytestmark = pytest.mark.browser


def test_compose_a_campaign_for_a_segment_send_it_and_watch_it_finish(
        browser: Any, live_server: str, app: Any, users: dict[str, str], capture: Outbox, screenshots: Path) -> None:
    with app.app_context():
        news = create_list({"name": "お知らせ"})
        sale = create_list({"name": "セール"})
        for number in range(4):  # readers 0-2 in Osaka, reader 3 in Tokyo; reader 0 on both lists
            create_subscriber({"email": f"reader{number}@example.jp", "name": f"読者{number}",
                               "lists": [news.id, sale.id] if number == 0 else [news.id if number % 2 else sale.id],
                               "attribs": {"city": "大阪" if number < 3 else "東京"},
                               "preconfirm_subscriptions": True}, Consent(ConsentMethod.ADMIN))
        save_segment(None, {"name": "大阪の読者", "rules": {"match": "all", "rules": [
            {"field": "attribs.city", "op": "eq", "value": "大阪"}]}})
    context = ja_context(browser, live_server)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the "send to 3 subscribers now?" question
    log_in(page, "admin")
    page.goto("/campaigns/new")
    page.fill("#name", "12月号")
    page.select_option("#content_type", "markdown")  # reopens in the Markdown editor with what was typed
    expect(page.locator(".CodeMirror")).to_be_visible()
    page.fill("#subject", "{{ subscriber.name }}様へ 12月号")
    page.fill("#preheader", "年末のご挨拶と、冬のセールのお知らせです。")
    page.select_option("#template_id", label="お知らせ / Announcement")
    page.select_option("#lists", label=["お知らせ", "セール"])
    page.select_option("#segment_id", label="大阪の読者")
    page.evaluate("document.querySelector('.CodeMirror').CodeMirror.setValue("
                  "'# {{ subscriber.name }}様\\n\\n今年もありがとうございました。')")
    page.screenshot(path=str(screenshots / "send-00-compose.png"), full_page=True)
    page.get_by_role("button", name="保存してプレビュー").click()
    expect(page.locator(".flash-success")).to_contain_text("保存しました")
    expect(page.locator("[data-audience]")).to_contain_text("3 人")  # both lists, once each, Osaka only
    page.get_by_role("button", name="今すぐ配信").click()
    expect(page.locator("[data-campaign-status]")).to_have_text("配信中")
    page.screenshot(path=str(screenshots / "send-01-running.png"), full_page=True)
    run_jobs(app)  # a real RQ worker sends the batch; the page's poll then sees the campaign finished
    expect(page.locator("[data-campaign-status]")).to_have_text("完了", timeout=15000)
    # The layout's banner shows each reader's subject, not the template of it.
    expect(page.frame_locator("iframe").first.get_by_role("heading", name="サンプル 読者様へ 12月号")).to_be_visible()
    expect(page.locator("[data-field=sent]")).to_have_text("3")
    page.screenshot(path=str(screenshots / "send-02-finished.png"), full_page=True)
    page.goto("/outbox/")
    for number in range(3):
        expect(page.get_by_text(f"読者{number}様へ 12月号")).to_be_visible()
    expect(page.get_by_text("読者3様へ 12月号")).to_have_count(0)  # in Tokyo: not in the segment
    page.screenshot(path=str(screenshots / "send-03-outbox.png"), full_page=True)
    assert capture.page(1, 10)[1] == 3
    context.close()
