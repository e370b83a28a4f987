"""Sending from the browser, in Japanese: audience size, confirm, live progress to finished, the Outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from lists.models import ConsentMethod
from lists.services import create_list
from lists.subscribers import Consent, create_subscriber
from mailer.campaigns import save_campaign
from mailer.outbox import Outbox
from tests.browser.conftest import ja_context, log_in
from tests.browser.test_compose import settings_env  # noqa: F401  (the sender's details for the footer)
from tests.conftest import run_jobs

pytestmark = pytest.mark.browser


def test_send_a_campaign_and_watch_it_finish(browser: Any, live_server: str, app: Any, users: dict[str, str],
                                             capture: Outbox, screenshots: Path) -> None:
    with app.app_context():
        news = create_list({"name": "お知らせ"})
        for number in range(3):
            create_subscriber({"email": f"reader{number}@example.jp", "name": f"読者{number}", "lists": [news.id],
                               "preconfirm_subscriptions": True}, Consent(ConsentMethod.ADMIN))
        campaign, _warnings = save_campaign(None, {"name": "12月号", "subject": "{{ subscriber.name }}様へ 12月号",
                                                   "content_type": "markdown", "lists": [news.id],
                                                   "preheader": "年末のご挨拶と、冬のセールのお知らせです。",
                                                   "body": "# {{ subscriber.name }}様\n\nありがとうございました。"})
        campaign_id = campaign.id
    context = ja_context(browser, live_server)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the "send to 3 subscribers now?" question
    log_in(page, "admin")
    page.goto(f"/campaigns/{campaign_id}/preview")
    expect(page.locator("[data-audience]")).to_contain_text("3 人")
    page.get_by_role("button", name="今すぐ配信").click()
    expect(page.locator("[data-campaign-status]")).to_have_text("配信中")
    page.screenshot(path=str(screenshots / "send-01-running.png"), full_page=True)
    run_jobs(app)  # a real RQ worker sends the batch; the page's poll then sees the campaign finished
    expect(page.locator("[data-campaign-status]")).to_have_text("完了", timeout=15000)
    expect(page.locator("[data-field=sent]")).to_have_text("3")
    page.screenshot(path=str(screenshots / "send-02-finished.png"), full_page=True)
    page.goto("/outbox/")
    for number in range(3):
        expect(page.get_by_text(f"読者{number}様へ 12月号")).to_be_visible()
    assert capture.page(1, 10)[1] == 3
    context.close()
