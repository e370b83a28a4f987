"""A campaign's conversions and revenue on its report and the dashboard, in Japanese, in a real browser."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from automations import conversions
from tests.browser.helpers import ja_context, log_in
from tests.helpers import api_user
from tests.tracking.small_campaign import Sent

pytestmark = pytest.mark.browser


def test_the_report_shows_conversions_and_revenue_in_japanese(browser: Any, live_server: str, app: Flask, sent: Sent,
                                                              screenshots: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    shop = app.test_client()
    shop.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'shop')}"
    for email, order, properties in (("ann@gmail.com", "A-1", {"amount": 3980}),
                                     ("ann@gmail.com", "A-2", {"amount": 19.99, "currency": "USD"}),
                                     ("ben@gmail.com", "B-1", {"amount": "3,980円"})):
        answer = shop.post("/api/events", json={"email": email, "name": "purchase", "idempotency_key": order,
                                                "properties": properties})
        assert answer.status_code == 200, answer.get_json()
    monkeypatch.setattr(conversions, "SETTLE", timedelta(0))  # this test's clock does not move: no wait to settle
    with app.app_context():
        assert conversions.attribute() == 3  # ann and ben clicked as people an hour after the send

    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "viewer")
    page.goto(f"/campaigns/{sent.campaign_id}/report")
    kpi = page.locator('[data-kpi="conversion_rate"]')
    expect(kpi.locator("[data-value]")).to_have_text("50.0%")  # 2 converted of 4 delivered
    expect(kpi).to_contain_text("コンバージョン 3 件")
    expect(kpi).to_contain_text("2 人が購入")
    revenue = page.locator('[data-kpi="revenue"]')
    expect(revenue.locator("[data-value]")).to_have_text("￥3,980")
    expect(revenue).to_contain_text("受信者1人あたり ￥995")
    expect(revenue.locator('[data-currency="USD"]')).to_have_text("ほかに $19.99")
    expect(revenue.locator('[data-problem="amount_not_a_number"]')).to_have_text(
        "売上のないコンバージョン 1 件: 金額が数値ではありません")
    page.locator(".kpis").screenshot(path=str(screenshots / "report-conversions-ja.png"))
    page.goto("/")
    row = page.locator(f'[data-compare] tr[data-campaign-id="{sent.campaign_id}"]')
    expect(row.locator('[data-rate="conversion_rate"]')).to_contain_text("50.0%")
    expect(row.locator("[data-revenue]")).to_have_text("￥3,980")
    expect(row.locator("[data-revenue-per-recipient]")).to_have_text("￥995")
    page.locator("[data-compare]").screenshot(path=str(screenshots / "dashboard-conversions-ja.png"))
    context.close()
