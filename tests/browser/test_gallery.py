"""The gallery in Japanese: an editor opens it from the campaigns, sees every starter at a phone's width,
picks one and lands in the visual editor with it, and saves it as a draft."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import db
from mailer.gallery import starters
from mailer.models import Campaign, ContentType
from mailer.previews import preview as campaign_preview
from tests.browser.helpers import ja_context, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "KAIRAN_MAIL_FROM": "こもれび雑貨店 <news@komorebi-zakka.jp>"}


def test_gallery_walk(browser: Any, live_server: str, app: Flask, users: dict[str, str], screenshots: Path) -> None:
    context = ja_context(browser, live_server, width=1400)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, "editor")

    # 1. From the campaigns, to the gallery: every starter by its Japanese name, in a phone-sized frame.
    page.goto("/campaigns/")
    page.get_by_role("link", name="ギャラリーから始める").click()
    expect(page.get_by_role("heading", name="ギャラリー", exact=True)).to_be_visible()
    for starter in starters():
        expect(page.locator(f"[data-starter={starter.key}] h2")).to_have_text(starter.name("ja"))
    sale = page.locator("[data-starter=sale]")
    sale.scroll_into_view_if_needed()
    frame = sale.frame_locator("iframe")
    expect(frame.get_by_text("全品10%オフ", exact=True)).to_be_visible()  # compiled, in the default layout
    expect(frame.get_by_role("link", name="配信停止", exact=True)).to_be_visible()  # with the layout's legal footer
    # On a phone's width each message fits: nothing wider than the screen, no sideways scrolling.
    frames = page.locator("iframe.gallery-phone")
    assert frames.count() == len(starters())
    for index in range(frames.count()):
        frames.nth(index).scroll_into_view_if_needed()
        handle = frames.nth(index).element_handle()
        assert handle is not None
        inner = handle.content_frame()
        assert inner is not None
        inner.wait_for_load_state()
        width, scrolled = inner.evaluate("[innerWidth, document.documentElement.scrollWidth]")
        assert width == 375 and scrolled <= width, (index, width, scrolled)
    screenshot(page, screenshots / "gallery-01-ja.png")
    phone = context.new_page()
    phone.set_viewport_size({"width": 375, "height": 812})
    for starter in starters():  # each whole message on a phone, to look at
        for lang in ("ja", "en"):
            phone.goto(f"/gallery/{starter.key}/preview.html?lang={lang}")
            phone.screenshot(path=str(screenshots / f"gallery-02-phone-{lang}-{starter.key}.png"), full_page=True)
    phone.close()

    # The sample copy in English, for an English newsletter; then back to Japanese.
    page.get_by_role("link", name="English", exact=True).click()
    expect(page.locator("[data-starter=sale] h2")).to_have_text("Sale")
    english = page.locator("[data-starter=sale]").frame_locator("iframe")
    expect(english.get_by_text("10% off everything", exact=True)).to_be_visible()
    page.get_by_role("link", name="日本語", exact=True).click()
    sale = page.locator("[data-starter=sale]")

    # 2. Pick the sale: the new campaign opens in the visual editor with the starter in it, ready to edit.
    sale.get_by_role("link", name="キャンペーンを作る").click()
    expect(page).to_have_url(f"{live_server}/campaigns/new?starter=sale&lang=ja")
    expect(page.locator("#subject")).to_have_value("春の感謝セールのご案内（3月15日から）")
    canvas = page.frame_locator(".gjs-frame")
    expect(canvas.get_by_text("SPRING10")).to_be_visible()
    canvas.get_by_text("日頃のご愛顧に感謝を込めて").first.click()  # the blocks are the editor's own components
    page.wait_for_function("() => (kairanEditor.getSelected()?.toHTML() || '').includes('日頃のご愛顧')")
    page.screenshot(path=str(screenshots / "gallery-03-editor.png"), full_page=True)
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator(".flash-success")).to_be_visible()
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign is not None and campaign.content_type == ContentType.VISUAL
        assert "SPRING10" in campaign.body and campaign.body_source is not None and campaign.language == "ja"
        # The editor's export (its own inlined HTML) is still the email-safe message: tables, checks all ok.
        assert 'role="presentation"' in campaign.body and 'bgcolor="#b3122b"' in campaign.body
        with app.test_request_context():
            checks = campaign_preview(campaign, None).checks
        assert [check for check in checks if check["level"] != "ok"] == []

    # 3. A layout from the event starter: its design around the content slot, previewed with a sample body.
    page.goto("/gallery/")
    page.locator("[data-starter=event]").get_by_role("link", name="レイアウトにする").click()
    expect(page.locator("#name")).to_have_value("イベントのご招待")
    preview = page.frame_locator("iframe[name=template-preview]")
    expect(preview.get_by_text("開催のご案内", exact=True)).to_be_visible()  # the starter's details table
    expect(preview.get_by_text("日頃のご愛顧への感謝を込めて")).to_have_count(0)  # its sample text gave way
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator(".flash-success")).to_be_visible()
    screenshot(page, screenshots / "gallery-04-layout.png")
    assert errors == []
    context.close()
