"""Scheduling from the browser, in Japanese: a time typed in Tokyo time, shown in it, stored in UTC;
unscheduling from the campaign list; the list's filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from core.db import db
from lists.models import ConsentMethod
from lists.services import create_list
from lists.subscribers import Consent, create_subscriber
from mailer.campaigns import save_campaign
from mailer.models import Campaign
from tests.browser.helpers import ja_context, log_in

pytestmark = pytest.mark.browser


def test_schedule_in_tokyo_time_then_unschedule_from_the_filtered_list(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path) -> None:
    with app.app_context():
        news = create_list({"name": "お知らせ"})
        for number in range(2):
            create_subscriber({"email": f"reader{number}@example.jp", "name": f"読者{number}", "lists": [news.id],
                               "preconfirm_subscriptions": True}, Consent(ConsentMethod.ADMIN))
        ids = {}
        for name, tag in [("春の案内", "spring"), ("夏の案内", "summer")]:
            campaign, _warnings = save_campaign(None, {"name": name, "subject": f"{name}です", "tags": [tag],
                                                       "content_type": "markdown", "lists": [news.id],
                                                       "body": "# {{ subscriber.name }}様\n\nご案内です。"})
            ids[name] = campaign.id
    tomorrow = (datetime.now(ZoneInfo("Asia/Tokyo")) + timedelta(days=1)).replace(hour=9, minute=30, second=0,
                                                                                 microsecond=0)
    context = ja_context(browser, live_server)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, "admin")

    page.goto(f"/campaigns/{ids['春の案内']}/preview")
    # The sending card: its heading at the top of its padding; the subject and reader set apart below it.
    card = page.locator(".send-card").bounding_box()
    heading = page.locator(".send-card h2").bounding_box()
    subject = page.locator("dl.meta").bounding_box()
    assert heading["y"] - card["y"] <= 30, (card, heading)  # 1.5rem of padding, no margin above
    assert subject["y"] - (card["y"] + card["height"]) >= 16, (card, subject)
    page.get_by_text("予約…").click()
    page.get_by_label("配信日時（Asia/Tokyo）").fill(tomorrow.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="予約する", exact=True).click()
    expect(page.locator("[data-campaign-status]")).to_have_text("予約済み")
    expect(page.locator("[data-send-at]")).to_contain_text(f"{tomorrow:%Y/%m/%d} 9:30")
    expect(page.locator("[data-send-at]")).to_contain_text("Asia/Tokyo")
    page.screenshot(path=str(screenshots / "schedule-01-scheduled.png"), full_page=True)
    with app.app_context():
        stored = db.session.get(Campaign, ids["春の案内"])
        assert stored is not None and stored.send_at == tomorrow.astimezone(UTC)  # 9:30 in Tokyo is 0:30 UTC

    page.goto("/campaigns/")
    page.select_option("#campaign-status", label="予約済み")
    page.get_by_role("button", name="検索").click()
    expect(page.locator("tr[data-campaign]")).to_have_count(1)
    row = page.locator("tr[data-campaign='春の案内']")
    expect(row.locator("[data-send-at]")).to_contain_text("9:30")
    page.screenshot(path=str(screenshots / "schedule-02-list-scheduled.png"), full_page=True)
    row.get_by_role("button", name="予約を取り消す").click()
    expect(page.locator(".flash-success")).to_contain_text("下書き")
    expect(page.locator("#campaign-status")).to_have_value("scheduled")  # back on the same filtered list
    expect(page.locator("tr[data-campaign]")).to_have_count(0)

    page.goto("/campaigns/")
    page.fill("#campaign-query", "夏")
    page.get_by_role("button", name="検索").click()
    expect(page.locator("tr[data-campaign]")).to_have_count(1)
    expect(page.locator("tr[data-campaign='夏の案内']")).to_contain_text("配信先 2 人")
    page.goto("/campaigns/?tag=spring")
    spring = page.locator("tr[data-campaign='春の案内']")
    expect(spring.locator("[data-status]")).to_have_text("下書き")
    expect(page.locator("tr[data-campaign]")).to_have_count(1)
    spring.get_by_text("予約…").click()
    page.screenshot(path=str(screenshots / "schedule-03-list-draft.png"), full_page=True)
    context.close()
