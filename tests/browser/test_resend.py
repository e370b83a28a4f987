"""A resend to non-openers made from a finished campaign's report, in Japanese: the form's two groups, the resend
scheduled and open in the editor, and the two reports linked with the pair's combined reach."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import db
from mailer.models import Campaign
from mailer.outbox import Outbox
from tests.browser.helpers import ja_context, log_in
from tests.helpers import run_jobs
from tests.tracking.helpers import APPLE_MPP, BROWSER, send_to_readers, tracked

pytestmark = pytest.mark.browser


def test_resend_to_non_openers_from_the_report(browser: Any, live_server: str, app: Flask, users: dict[str, str],
                                               capture: Outbox, screenshots: Path) -> None:
    original = send_to_readers(app, app.test_client(), ("ann", "ben", "cat", "dan"), name="冬号",
                               subject="冬のセールのお知らせ", body="<p>冬のセールのご案内です。</p>")
    mail = tracked(capture)
    reader = app.test_client()
    assert reader.get(mail["ann"][0], headers={"User-Agent": BROWSER}).status_code == 200  # a person opens
    assert reader.get(mail["cat"][0], headers={"User-Agent": APPLE_MPP},
                      environ_base={"REMOTE_ADDR": "17.58.63.12"}).status_code == 200  # Apple's prefetch
    run_jobs(app)  # the flush the pixel queued

    page = ja_context(browser, live_server).new_page()
    log_in(page, "editor")
    page.goto(f"/campaigns/{original}/report")
    page.locator("[data-resend-button]").click()
    expect(page.locator("h1")).to_have_text("未開封者への再送")
    expect(page.locator('[data-group="non_openers"] [data-count]')).to_have_text("2")  # ben, dan
    expect(page.locator('[data-group="machine_openers"] [data-count]')).to_have_text("1")  # cat
    expect(page.get_by_label("再送の件名")).to_have_value("冬のセールのお知らせ")
    page.get_by_label("再送の件名").fill("【まだ間に合います】冬のセール")
    page.get_by_label("機械だけが開封した人にも送る").check()
    page.screenshot(path=str(screenshots / "resend-form-ja.png"), full_page=True)
    page.locator("[data-make-resend]").click()

    expect(page.locator("[data-resend-note]")).to_contain_text("「冬号」を開封しなかった人への再送")
    expect(page.locator("#subject")).to_have_value("【まだ間に合います】冬のセール")  # still editable, as any draft
    page.screenshot(path=str(screenshots / "resend-editor-ja.png"), full_page=True)
    with app.app_context():
        resend = db.session.scalars(select(Campaign).where(Campaign.resend_of == original)).one()
        assert (resend.status.value, resend.resend_machine_openers, resend.body) == (
            "scheduled", True, "<p>冬のセールのご案内です。</p>")
        resend_id = resend.id

    page.goto(f"/campaigns/{original}/report")
    expect(page.locator("[data-resend-link]")).to_contain_text("開封しなかった人へ")
    expect(page.locator("[data-resend-link] .badge")).to_have_text("予約済み")
    expect(page.locator("[data-combined-reach]")).to_contain_text("元の受信者 4 人のうち 1 人")
    expect(page.locator("[data-combined-reach] [data-value]")).to_have_text("25.0%")
    expect(page.locator("[data-resend-button]")).to_have_count(0)  # one resend per campaign
    page.screenshot(path=str(screenshots / "resend-original-report-ja.png"), full_page=True)
    page.locator("[data-resend-link] a").click()
    expect(page).to_have_url(f"{live_server}/campaigns/{resend_id}/report")
    expect(page.locator("[data-resend-link]")).to_contain_text("機械だけが開封した人への再送です")
    page.locator("[data-resend-link] a").click()
    expect(page).to_have_url(f"{live_server}/campaigns/{original}/report")
