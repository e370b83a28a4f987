"""A test send rendered as a real subscriber, in Japanese: pressing its unsubscribe changes nothing.

An editor previews a campaign as a customer and sends the test to a colleague; the colleague presses
the mail's unsubscribe (the link Gmail's button follows, and the one-click POST it sends) and the
footer's link in the Outbox: each shows a page saying it is a test, and the customer stays subscribed.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from lists.models import ConsentMethod
from lists.services import create_list
from lists.subscribers import Consent, create_subscriber
from mailer.campaigns import save_campaign
from mailer.outbox import Outbox
from tests.browser.helpers import ja_context, log_in
from tests.helpers import run_jobs, statuses

pytestmark = pytest.mark.browser

TEST_PAGE = "テスト送信またはプレビューのリンクです"


def test_pressing_unsubscribe_on_a_test_sent_as_a_customer_keeps_them_subscribed(
        browser: Any, live_server: str, app: Any, users: dict[str, str], capture: Outbox, screenshots: Path) -> None:
    with app.app_context():
        news = create_list({"name": "お知らせ"})
        create_subscriber({"email": "taro@example.jp", "name": "山田 太郎", "lists": [news.id],
                           "preconfirm_subscriptions": True}, Consent(ConsentMethod.ADMIN))
        campaign, _warnings = save_campaign(None, {
            "name": "12月号", "subject": "{{ subscriber.name }}様へ 12月号", "content_type": "html", "lists": [news.id],
            "body": "<p>{{ subscriber.name }}様、今年もありがとうございました。</p>"})
        campaign_id = campaign.id
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto(f"/campaigns/{campaign_id}/preview?reader=taro@example.jp")
    page.fill("#addresses", "boss@example.jp")
    page.get_by_role("button", name="テスト送信").click()
    expect(page.locator(".flash-success")).to_contain_text("boss@example.jp")
    run_jobs(app)

    # The colleague's inbox: the subject says it is a test, and it is personalised for the customer.
    page.goto("/outbox/")
    page.get_by_text("[テスト] 山田 太郎様へ 12月号").click()
    received = page.frame_locator("iframe")
    expect(received.get_by_text("山田 太郎様、今年もありがとうございました。")).to_be_visible()
    page.screenshot(path=str(screenshots / "test-send-01-outbox.png"), full_page=True)

    # What Gmail's unsubscribe button does with the mail's List-Unsubscribe: opens it, or POSTs one-click.
    entries, _total = capture.page(1, 1)
    captured = capture.get(entries[0].key)
    assert captured is not None
    header = email.message_from_string(captured.raw, policy=email.policy.default)["List-Unsubscribe"]
    unsubscribe = re.fullmatch(r"<(http://[^>]+)>", str(header))
    assert unsubscribe and unsubscribe[1].startswith(live_server)
    one_click = context.request.post(unsubscribe[1], form={"List-Unsubscribe": "One-Click"})
    assert one_click.status == 200 and TEST_PAGE in one_click.text()
    page.goto(unsubscribe[1])
    expect(page.get_by_role("heading", name=TEST_PAGE)).to_be_visible()
    expect(page.get_by_text("実際の配信では、このリンクで読者の配信が停止されます。")).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(0)  # nothing to press that would act
    page.screenshot(path=str(screenshots / "test-send-02-unsubscribe.png"), full_page=True)

    # The footer's link, pressed in the Outbox, opens the same page in a new tab.
    page.goto("/outbox/")
    page.get_by_text("[テスト] 山田 太郎様へ 12月号").click()
    with context.expect_page() as opened:
        page.frame_locator("iframe").get_by_role("link", name="配信停止").click()
    expect(opened.value.get_by_role("heading", name=TEST_PAGE)).to_be_visible()
    assert statuses(app, "taro@example.jp") == {"お知らせ": "confirmed"}
    context.close()
