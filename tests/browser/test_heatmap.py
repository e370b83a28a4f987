"""When to send, from the browser in Japanese: a campaign's sending window and send-time optimisation on its form,
and the open-time heatmap's button that schedules a draft at the best slot."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from core import clock
from core.db import db
from mailer.campaigns import save_campaign
from mailer.models import Campaign, CampaignStatus
from tests.browser.helpers import ja_context, log_in
from tests.tracking.helpers import TOKYO, history

pytestmark = pytest.mark.browser


def test_a_draft_gets_a_window_and_is_scheduled_at_the_heatmaps_best_slot(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path) -> None:
    list_id = history(app, {"aki": [7] * 5 + [21], "ben": [7, 12, 12], "chika": [20, 20]})
    with app.app_context():
        draft, _warnings = save_campaign(None, {"name": "新春セール", "subject": "新春セールのご案内",
                                                "content_type": "markdown", "lists": [list_id],
                                                "body": "# {{ subscriber.name }}様\n\nご案内です。"})
        draft_id = draft.id
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "admin")

    page.goto(f"/campaigns/{draft_id}")
    page.get_by_label("配信時間帯の開始").fill("09:00")
    page.get_by_label("配信時間帯の終了").fill("20:00")
    page.get_by_label("配信時間の最適化：読者ごとに、いつも開封する時間に送る").check()
    page.screenshot(path=str(screenshots / "heatmap-01-window.png"), full_page=True)
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator(".flash-success")).to_be_visible()
    with app.app_context():
        saved = db.session.get(Campaign, draft_id)
        assert saved is not None
        assert (saved.quiet_start, saved.quiet_end, saved.send_time_optimised) == ("20:00", "09:00", True)

    page.goto("/campaigns/heatmap")
    expect(page.get_by_role("heading", name="開封時間ヒートマップ")).to_be_visible()
    three_days_ago = clock.now().astimezone(TOKYO) - timedelta(days=3)
    weekday = "月火水木金土日"[three_days_ago.weekday()]
    expect(page.locator("[data-best-slot]")).to_contain_text(f"最適な枠：{weekday}曜 7:00")
    expect(page.locator(".heat-best")).to_have_text("6")  # aki's five and ben's one, by people
    page.select_option("#best-slot-campaign", label="新春セール")
    page.screenshot(path=str(screenshots / "heatmap-02-heatmap.png"), full_page=True)
    page.get_by_role("button", name="最適な枠に予約").click()
    expect(page.locator("[data-campaign-status]")).to_have_text("予約済み")
    expect(page.locator(".flash-success")).to_contain_text("最適な枠")
    expect(page.locator("[data-send-window]")).to_contain_text("09:00〜20:00")
    page.screenshot(path=str(screenshots / "heatmap-03-scheduled.png"), full_page=True)
    with app.app_context():
        scheduled = db.session.get(Campaign, draft_id)
        assert scheduled is not None and scheduled.status == CampaignStatus.SCHEDULED
        assert scheduled.send_at is not None
        at = scheduled.send_at.astimezone(TOKYO)
        assert (at.weekday(), at.hour, at.minute) == (three_days_ago.weekday(), 7, 0)
    context.close()
