"""Issue 18's A/B test in a real browser, in Japanese: an editor makes a campaign with two variants in the campaign
editor (B with its own subject and content, written in the same Markdown editor), is warned that 40 subscribers
are too few to tell the variants apart, sends the test phase, reads each variant's figures and the verdict on
the report, and sends B to the rest by hand."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import update

from core.db import db, utcnow
from lists.models import ConsentMethod
from lists.services import create_list
from lists.subscribers import Consent, create_subscriber
from mailer.models import Delivery
from mailer.outbox import Outbox
from tests.browser.helpers import ja_context, log_in, screenshot
from tests.helpers import run_jobs
from tests.tracking.helpers import BROWSER, tracked
from tracking.flush import flush_events

pytestmark = pytest.mark.browser
READERS = 40


def test_an_ab_campaign_is_composed_sent_and_read_in_japanese(
        browser: Any, live_server: str, app: Flask, users: dict[str, str], capture: Outbox, screenshots: Path) -> None:
    with app.app_context():
        members = create_list({"name": "会員"})
        for n in range(READERS):
            create_subscriber({"email": f"member{n}@example.jp", "name": f"会員{n}", "lists": [members.id],
                               "preconfirm_subscriptions": True}, Consent(ConsentMethod.ADMIN))
    context = ja_context(browser, live_server, width=1400)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the "send now?" question
    log_in(page, "admin")
    page.goto("/campaigns/new")
    page.fill("#name", "冬のセール")
    page.select_option("#content_type", "markdown")  # reopens in the Markdown editor with what was typed
    expect(page.locator(".CodeMirror")).to_be_visible()
    page.fill("#subject", "冬のセールのお知らせ")
    page.select_option("#lists", label=["会員"])
    page.evaluate("document.querySelector('.CodeMirror').CodeMirror.setValue("
                  "'# {{ subscriber.name }}様\\n\\n[セール会場へ](https://shop.example.jp/sale)')")
    page.get_by_text("A/Bテスト", exact=True).click()  # opens the A/B test's part of the form
    page.check("#ab_enabled")
    page.select_option("#test_share", "50")
    page.fill("#wait_hours", "2")
    page.select_option("#measure", "clicks")
    page.fill("[name=variant2_subject]", "【最大50%オフ】冬のセール開始")
    page.fill("[name=variant2_from_name]", "回覧商事 セール係")
    page.screenshot(path=str(screenshots / "ab-01-editor.png"), full_page=True)
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("保存しました")
    expect(page.locator("[data-variant=B] a")).to_contain_text("キャンペーン本体")

    page.locator("[data-variant=B] a").click()  # B's content, in the same editor
    expect(page.locator("h1")).to_contain_text("パターン B")
    expect(page.locator(".CodeMirror")).to_be_visible()  # the campaign's Markdown editor, holding its body to start
    page.check("#own_content")
    page.evaluate("document.querySelector('.CodeMirror').CodeMirror.setValue("
                  "'# {{ subscriber.name }}様\\n\\n**今だけ最大50%オフ！** [今すぐ見る](https://shop.example.jp/sale)')")
    page.screenshot(path=str(screenshots / "ab-02-variant-b.png"), full_page=True)
    page.get_by_role("button", name="保存してプレビュー").click()
    expect(page.locator(".flash-success")).to_contain_text("パターン B を保存しました")
    expect(page.locator("[data-subject]")).to_have_text("【最大50%オフ】冬のセール開始")
    expect(page.frame_locator("iframe").first.get_by_text("今だけ最大50%オフ！")).to_be_visible()
    expect(page.locator("[data-ab-warning]")).to_contain_text("配信先がこのA/Bテストには少なすぎます")
    screenshot(page, screenshots / "ab-03-preview-warning.png")

    page.get_by_role("button", name="今すぐ配信").click()
    expect(page.locator("[data-campaign-status]")).to_have_text("配信中")
    run_jobs(app)
    sent = capture.count()
    assert 8 <= sent <= 32  # half of 40 by the keyed hash, give or take chance
    with app.app_context():  # they read it an hour later (a click within seconds of delivery is a scanner's)
        db.session.execute(update(Delivery).values(sent_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    reader = app.test_client()
    subjects = {entry.to: entry.subject for entry in capture.page(1, 100)[0]}
    clicked = 0
    for name, (_pixel, links) in tracked(capture).items():
        if subjects[f"{name.replace('member', '会員')} <{name}@example.jp>"].startswith("【"):  # B's readers click
            assert reader.get(links[0], headers={"User-Agent": BROWSER}).status_code == 302
            clicked += 1
    with app.app_context():
        flush_events()

    page.get_by_role("link", name="レポートを開く").click()
    results = page.locator("[data-ab-results]")
    expect(results).to_be_visible()
    expect(results.locator("[data-variant=B] td").nth(4)).to_have_text(str(clicked))  # B's clicks by people
    expect(results.locator("[data-variant=A] td").nth(4)).to_have_text("0")
    expect(results.locator("[data-ab-verdict]")).to_contain_text("パターン B")
    expect(results.locator("[data-ab-waiting]")).to_be_visible()
    screenshot(page, screenshots / "ab-04-report.png")
    results.get_by_role("button", name="B を残りに配信").click()
    expect(page.locator(".flash-success")).to_contain_text("パターン B が勝者です")
    run_jobs(app)
    assert capture.count() == READERS
    page.reload()
    expect(page.locator("[data-ab-results] [data-variant=B] .badge")).to_have_text("勝者")
    expect(page.locator("[data-ab-results] [data-variant=rest] td").first).to_have_text(str(READERS - sent))
    expect(page.locator("[data-ab-results] [data-ab-winner]")).to_contain_text("パターン B が勝者になり")
    screenshot(page, screenshots / "ab-05-report-winner.png")
    context.close()
