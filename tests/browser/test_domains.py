"""Sending domains in a Japanese browser: add one, turn Ed25519 on, rotate its key and activate the new one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import log_in

pytestmark = pytest.mark.browser


def test_turn_ed25519_on_and_rotate_the_key(page_ja: Any, users: dict[str, str], screenshots: Path) -> None:
    page = page_ja
    page.on("dialog", lambda dialog: dialog.accept())  # "sign although DNS does not show its record?"
    log_in(page, "admin")
    page.goto("/settings/domains/")
    page.fill("#domain", "news.kairan.example")
    page.get_by_role("button", name="ドメインを追加").click()
    card = page.locator("[data-domain='news.kairan.example']")
    expect(card.locator("[data-selector=kairan1]")).to_contain_text("署名中")

    card.get_by_role("button", name="Ed25519 署名を追加").click()
    expect(page.locator(".flash").first).to_contain_text("kairan-ed1")
    expect(card.locator("[data-selector=kairan-ed1]")).to_contain_text("v=DKIM1; k=ed25519; p=")
    expect(card).to_contain_text("RSA（kairan1）と Ed25519（kairan-ed1）で署名しています。")

    card.get_by_role("button", name="鍵をローテーション").click()
    expect(card.locator("[data-selector=kairan2]")).to_contain_text("有効化待ち")
    page.screenshot(path=str(screenshots / "domains-01-rotating.png"), full_page=True)
    card.locator("[data-selector=kairan2]").get_by_role("button", name="確認せずに有効化").click()
    expect(card.locator("[data-selector=kairan2]")).to_contain_text("署名中")
    expect(card.locator("[data-selector=kairan1]")).to_contain_text("引退")
    expect(card.locator("[data-selector=kairan1]").get_by_role("button", name="削除")).to_be_visible()
    page.screenshot(path=str(screenshots / "domains-02-rotated.png"), full_page=True)
