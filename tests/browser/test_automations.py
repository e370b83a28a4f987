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
    page.click(".step-card[data-step=wait]")
    panel = page.locator("#side-panel")
    panel.locator("input[name=days]").fill("14")
    page.screenshot(path=str(screenshots / "automations-panel-ja.png"), full_page=True)
    panel.locator("#apply-step").click()
    assert "14日" in page.inner_text(".step-card[data-step=wait]")
    page.click(".status-form[data-action=activate] button")
    page.wait_for_selector(".flash:has-text('有効にしました')")
    assert "有効にしました" in page.inner_text(".flash"), page.inner_text(".flash")
    shop = app.test_client()
    shop.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'editor', 'shop')}"
    response = shop.post("/api/events", json={"email": "taro@example.jp", "create_subscriber": True,
                                              "name": "purchase", "properties": {"category": "printer",
                                                                                 "product_name": "PX-1",
                                                                                 "order_id": "A1"}})
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        from automations.engine import wake

        wake()
    page.reload()
    counts = page.locator(".step-card[data-step=wait] + .counts")
    assert counts.locator("[data-count=entered]").inner_text() == "1"
    assert counts.locator("[data-count=waiting]").inner_text() == "1"
    page.screenshot(path=str(screenshots / "automations-counts-ja.png"), full_page=True)
    page.goto("/automations/")
    page.screenshot(path=str(screenshots / "automations-list-ja.png"), full_page=True)
    assert page.inner_text("[data-running]") == "1"
    context.close()
