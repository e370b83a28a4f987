"""The automation builder in Japanese: the post-purchase reminder from its recipe, a wait edited in the side
panel, activated, a purchase posted, the engine woken, and the cards' figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.helpers import ja_context, log_in
from tests.helpers import api_user


def test_the_printer_reminder_from_recipe_to_counts(browser: Any, live_server: str, app: Any, users: dict[str, str],
                                                   screenshots: Path) -> None:
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.click("nav >> text=オートメーション")
    page.screenshot(path=str(screenshots / "automations-list-empty-ja.png"), full_page=True)
    page.click("form[data-recipe=printer] button")
    assert "購入後リマインド" in page.inner_text("h1")
    page.screenshot(path=str(screenshots / "automations-builder-ja.png"), full_page=True)
    # each card names its kind once, with its detail under it; the trigger reads as a sentence
    wait = page.locator(".step-card[data-step=wait]")
    assert (wait.locator(".step-title").inner_text(), wait.locator(".step-summary").inner_text()) == ("待機", "30日")
    assert page.locator(".step-card[data-step=ink] .step-summary").inner_text() == "purchase (category=ink) · 30日"
    assert page.locator(".step-card[data-step=bought] .step-summary").count() == 0  # a goal has no detail
    assert page.inner_text(".step-card[data-step=trigger] .step-summary") == "イベント: purchase（category が printer）"
    page.click(".step-card[data-step=wait]")
    panel = page.locator("#side-panel")
    panel.locator("input[name=days]").fill("14")
    page.screenshot(path=str(screenshots / "automations-panel-ja.png"), full_page=True)
    panel.locator("#apply-step").click()
    assert "14日" in page.inner_text(".step-card[data-step=wait]")
    page.click(".status-form[data-action=activate] button")
    page.wait_for_selector(".flash:has-text('有効にしました')")
    assert "有効にしました" in page.inner_text(".flash"), page.inner_text(".flash")
    # running as drafted: no activate button beside pause until the draft is edited
    assert page.locator(".status-form[data-action=activate]").is_hidden()
    assert page.locator(".status-form[data-action=pause]").is_visible()
    shop = app.test_client()
    shop.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'shop')}"
    response = shop.post("/api/events", json={"email": "taro@example.jp", "create_subscriber": True,
                                              "name": "purchase", "properties": {"category": "printer",
                                                                                 "product_name": "PX-1",
                                                                                 "order_id": "A1"}})
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        from automations.triggers import react

        react()  # what a worker does when events are stored: act on them, move the runs on
    page.reload()
    counts = page.locator(".step-card[data-step=wait] + .counts")
    assert counts.locator("[data-count=entered]").inner_text() == "1"
    assert counts.locator("[data-count=waiting]").inner_text() == "1"
    page.screenshot(path=str(screenshots / "automations-counts-ja.png"), full_page=True)
    page.goto("/automations/")
    page.screenshot(path=str(screenshots / "automations-list-ja.png"), full_page=True)
    assert page.inner_text("[data-running]") == "1"
    context.close()


def test_trigger_panel_enrolment_and_moving_runs(browser: Any, live_server: str, app: Any, users: dict[str, str],
                                                 screenshots: Path) -> None:
    with app.app_context():
        from core.db import db
        from lists.models import Subscriber

        db.session.add(Subscriber(email="hanako@example.jp", email_key="hanako@example.jp", name="花子", attribs={}))
        db.session.commit()
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto("/automations/")
    page.click("form[data-recipe=printer] button")
    # the trigger: a purchase whose price is at least 10000
    page.click(".step-card[data-step=trigger]")
    panel = page.locator("#side-panel")
    assert panel.locator("select[name=t_kind]").input_value() == "event"
    assert panel.locator("[data-kind=segment]").is_hidden()
    panel.locator("input[name=t_prop_key]").fill("price")
    panel.locator("select[name=t_prop_op]").select_option("gte")
    panel.locator("input[name=t_prop_value]").fill("10000")
    page.fill("#automation-name", "高額プリンターのお礼")
    page.screenshot(path=str(screenshots / "automations-trigger-panel-ja.png"), full_page=True)
    panel.locator("#apply-step").click()
    assert "purchase（price が 10000 以上）" in page.inner_text(".step-card[data-step=trigger]")
    page.click("#save-draft")
    page.wait_for_selector("#save-state:has-text('保存しました')")
    assert page.inner_text("h1") == "高額プリンターのお礼"
    page.click(".status-form[data-action=activate] button")
    page.wait_for_selector(".flash:has-text('有効にしました')")
    with app.app_context():
        from sqlalchemy import select

        from automations.models import Automation

        automation = db.session.scalar(select(Automation).where(Automation.name == "高額プリンターのお礼"))
        assert automation is not None
        assert automation.draft["trigger"]["property"] == {"key": "price", "op": "gte", "value": 10000}
    # 読者を追加: one subscriber by address
    page.click("#enrol summary")
    page.fill("#enrol-email-input", "hanako@example.jp")
    page.click("#enrol-email button")
    assert "hanako@example.jp がオートメーションを開始しました。" in page.inner_text(".flash")
    with app.app_context():
        from automations.triggers import react

        react()  # what a worker does when events are stored: act on them, move the runs on
    page.reload()
    counts = page.locator(".step-card[data-step=wait] + .counts")
    assert counts.locator("[data-count=entered]").inner_text() == "1"
    assert counts.locator("[data-count=waiting]").inner_text() == "1"
    # a new version: the waiting reader can be moved onto it (the activate button shows once the draft is edited)
    assert page.locator(".status-form[data-action=activate]").is_hidden()
    page.click(".step-card[data-step=wait]")
    panel.locator("input[name=days]").fill("20")
    panel.locator("#apply-step").click()
    assert page.inner_text(".status-form[data-action=activate] button") == "変更を新しいバージョンとして有効化"
    page.click(".status-form[data-action=activate] button")
    page.wait_for_selector("#move-runs")
    assert "前のバージョンの読者を移す" in page.inner_text("#move-runs")
    row = page.locator("#move-runs tr[data-step=wait]")
    assert "v1" in row.inner_text() and "(v2)" in row.inner_text()
    page.screenshot(path=str(screenshots / "automations-move-runs-ja.png"), full_page=True)
    page.click("#move-form button")
    assert "1 人の読者をバージョン 2 に移しました。" in page.inner_text(".flash")
    assert page.locator("#move-runs").count() == 0
    context.close()
