"""A real bounce sent into the inbound SMTP server shows on the Bounces page, in Japanese; filters and delete work."""

from __future__ import annotations

import smtplib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import ja_context, log_in
from tests.tracking.bounce_mail import BOUNCE_DOMAIN, dsn, sent_campaign, verp
from tracking.inbound import start_inbound

pytestmark = pytest.mark.browser


def test_a_bounce_sent_by_smtp_appears_on_the_page(browser: Any, live_server: str, app: Any, users: dict[str, str],
                                                   screenshots: Path) -> None:
    with app.app_context():
        gone = sent_campaign(["gone@example.jp"], name="11月号")["gone@example.jp"]
        token = verp(gone)
    controller = start_inbound(app, app.config["KAIRAN"].bounces.port)
    try:
        with smtplib.SMTP("127.0.0.1", app.config["KAIRAN"].bounces.port) as client:
            client.sendmail("", [f"bounce+{token}@{BOUNCE_DOMAIN}"], dsn("gone@example.jp", token=token))
            client.sendmail("", [f"bounce+{token}@{BOUNCE_DOMAIN}"], b"\xff\xfe not mail")
    finally:
        controller.stop()
    context = ja_context(browser, live_server)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # "delete this bounce?"
    log_in(page, "admin")
    page.goto("/subscribers/")
    page.get_by_role("link", name="バウンス").click()
    expect(page.get_by_role("heading", name="バウンス", exact=True)).to_be_visible()
    row = page.locator("tr[data-bounce='gone@example.jp']")
    expect(row).to_contain_text("ハード")
    expect(row).to_contain_text("5.1.1")
    expect(row).to_contain_text("User unknown")
    expect(row.get_by_role("link", name="11月号")).to_have_attribute("href", f"/campaigns/{gone.campaign_id}")
    expect(page.locator("tr[data-unread]")).to_contain_text("no headers")
    page.screenshot(path=str(screenshots / "bounces-00-list.png"), full_page=True)

    page.select_option("#bounce-type", "soft")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("#result-count")).to_have_text("0 件のバウンス")
    page.select_option("#bounce-type", "hard")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("#result-count")).to_have_text("1 件のバウンス")

    row.get_by_role("link", name="gone@example.jp").click()
    expect(page).to_have_url(f"{live_server}/subscribers/{gone.subscriber_id}")
    page.go_back()
    page.locator("tr[data-bounce='gone@example.jp']").get_by_role("button", name="削除").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("#result-count")).to_have_text("0 件のバウンス")
    context.close()
