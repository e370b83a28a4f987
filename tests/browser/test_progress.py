"""A running campaign's page says its time left in words and, when a domain's pacing sets it, which domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select, update

from core.db import db
from mailer.models import Delivery, DeliveryStatus
from tests.browser.helpers import ja_context, log_in
from tests.mailer.helpers import running_campaign

pytestmark = pytest.mark.browser


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """docomo.ne.jp takes 60 messages a minute here."""
    return {**settings_env, "KAIRAN_DOMAIN_LIMITS": "docomo.ne.jp=60"}


def test_the_campaign_page_says_which_domain_paces_the_rest(browser: Any, live_server: str, app: Flask,
                                                            users: dict[str, str], screenshots: Path) -> None:
    campaign_id = running_campaign(app, 100, {"docomo.ne.jp": 30}, 10)
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "admin")
    page.goto(f"/campaigns/{campaign_id}/preview")
    paced = page.locator('[data-field="paced_by"]')
    expect(paced).to_contain_text("docomo.ne.jp 宛ての残り 30 通は毎分 60 通まで")
    expect(page.locator('[data-field="time_left"]')).to_have_text("残り時間: 約 30 秒")
    page.screenshot(path=str(screenshots / "progress-paced.png"), full_page=True)
    with app.app_context():  # ten more go out: the page's poll says so, in words
        ids = db.session.scalars(select(Delivery.id).where(Delivery.domain == "docomo.ne.jp").limit(10)).all()
        db.session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(status=DeliveryStatus.SENT))
        db.session.commit()
    expect(paced).to_contain_text("docomo.ne.jp 宛ての残り 20 通")
    expect(page.locator('[data-field="time_left"]')).to_have_text("残り時間: 約 20 秒")
    assert "— 秒" not in page.inner_text("main")
    context.close()
