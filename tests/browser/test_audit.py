"""The audit log page in Japanese: a failed login, a list made in the UI and an API change show up; the filters
narrow them; the CSV downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import expect

from tests.browser.helpers import ja_context, log_in
from tests.helpers import api_user, basic

pytestmark = pytest.mark.browser


def test_the_audit_log_page_in_japanese(browser: Any, live_server: str, app: Any, client: FlaskClient,
                                        users: dict[str, str], screenshots: Path) -> None:
    editor = basic(api_user(app, "editor", "shop"))
    list_id = client.post("/api/lists", headers=editor, json={"name": "週刊ニュース"}).get_json()["data"]["id"]
    client.put(f"/api/lists/{list_id}", headers=editor, json={"name": "月刊ニュース"})
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor", "wrong password")
    log_in(page, "admin")
    page.get_by_role("link", name="監査ログ").click()
    expect(page.get_by_role("heading", name="監査ログ")).to_be_visible()
    changed = page.locator("tr[data-action='list.changed']")
    expect(changed).to_contain_text("shop")
    expect(changed).to_contain_text("API")
    expect(changed).to_contain_text("リスト")
    expect(changed).to_contain_text('"週刊ニュース" → "月刊ニュース"')
    failed = page.locator("tr[data-action='login.failed']")
    expect(failed).to_contain_text("未ログイン")
    expect(failed).to_contain_text("127.0.0.1")
    expect(failed).to_contain_text("editor")
    page.screenshot(path=str(screenshots / "audit-00-log.png"), full_page=True)

    page.get_by_label("誰が").select_option("shop")
    page.get_by_label("対象").select_option("list")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("#result-count")).to_have_text("2 件")
    expect(page.locator("tr[data-action='login.failed']")).to_have_count(0)
    page.screenshot(path=str(screenshots / "audit-01-filtered.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="CSVをダウンロード").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "list.created" in text and "list.changed" in text and "login.failed" not in text

    page.goto("/audit/?from=2026-99-01")
    expect(page.locator(".flash")).to_contain_text("from には日付")
    context.close()
