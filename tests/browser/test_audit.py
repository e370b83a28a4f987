"""The audit log page in Japanese: a failed login, a refused API token, a list made in the UI and an API change,
a campaign's sender and body, a job's work show up in words; the filters narrow them; the CSV downloads (UTF-8 with
a BOM, or Shift_JIS)."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import expect

from core import audit
from core.db import db
from tests.browser.helpers import ja_context, log_in
from tests.helpers import api_user, basic

pytestmark = pytest.mark.browser


def test_the_audit_log_page_in_japanese(browser: Any, live_server: str, app: Any, client: FlaskClient,
                                        users: dict[str, str], screenshots: Path) -> None:
    editor = basic(api_user(app, "editor", "shop"))
    list_id = client.post("/api/lists", headers=editor, json={"name": "週刊ニュース"}).get_json()["data"]["id"]
    client.put(f"/api/lists/{list_id}", headers=editor, json={"name": "月刊ニュース"})
    for _attempt in range(5):  # a shop with a wrong token: one entry
        assert client.get("/api/lists", headers=basic("shop:wrong-token")).status_code == 403
    with app.app_context():
        audit.record("campaign.changed", audit.Target("campaign", 3, "秋のセール"),
                     {"from_email": "Shop <shop@example.com>", "body": True},
                     {"from_email": "回覧 <news@example.com>", "body": True}, actor=audit.Actor("shop", "api", 9))
        audit.record("campaign.finished", audit.Target("campaign", 3, "秋のセール"),
                     actor=audit.Actor("job:mailer.batch_job.send_batch", "job"))
        audit.record("campaign.running", audit.Target("campaign", 3, "秋のセール"), {"status": "scheduled"},
                     {"status": "running"})
        audit.record("campaign.created", audit.Target("campaign", 4, "冬のセール"), None, {
            "lists": [list_id], "quiet_start": "20:00", "quiet_end": "09:00"})
        db.session.commit()
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor", "wrong password")
    log_in(page, "admin")
    page.locator("details.nav-menu summary").click()  # the admin's menu
    page.get_by_role("link", name="監査ログ").click()
    expect(page.get_by_role("heading", name="監査ログ")).to_be_visible()
    changed = page.locator("tr[data-action='list.changed']")
    expect(changed).to_contain_text("shop")
    expect(changed).to_contain_text("API")
    expect(changed).to_contain_text("リスト")
    expect(changed).to_contain_text("名前: 週刊ニュース → 月刊ニュース")
    sender = page.locator("tr[data-action='campaign.changed']")
    expect(sender).to_contain_text("差出人: Shop <shop@example.com> → 回覧 <news@example.com>")
    expect(sender).to_contain_text("本文: 変更あり")
    expect(page.locator("tr[data-action='campaign.finished']")).to_contain_text("システム（配信ジョブ）")
    refused = page.locator("tr[data-action='api.login_failed']")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("未ログイン")
    expect(refused).to_contain_text("ユーザー: shop")
    failed = page.locator("tr[data-action='login.failed']")
    expect(failed).to_contain_text("未ログイン")
    expect(failed).to_contain_text("127.0.0.1")
    expect(failed).to_contain_text("editor")
    started = page.locator("tr[data-action='campaign.running']")
    expect(started).to_contain_text("キャンペーンの配信開始")  # in words, the code small beside it
    expect(started).to_contain_text("ステータス: 予約済み → 配信中")
    made = page.locator("tr[data-action='campaign.created']")
    expect(made).to_contain_text("リスト: 月刊ニュース")  # the list's name for its id
    expect(made).to_contain_text("配信時間帯の開始: 09:00")
    expect(made).to_contain_text("配信時間帯の終了: 20:00")
    expect(page.locator("tr[data-action='list.created']")).to_contain_text("リストの作成")
    page.screenshot(path=str(screenshots / "audit-00-log.png"), full_page=True)
    page.get_by_label("操作").select_option(label="キャンペーンの配信開始")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("#result-count")).to_have_text("1 件")
    page.goto("/audit/")

    expect(page.get_by_label("対象").locator("option[value='webhook']")).to_have_text("Webhook エンドポイント")
    expect(page.get_by_label("誰が").locator("option[value='system']")).to_have_text("システム")
    page.get_by_label("誰が").select_option("shop")
    page.get_by_label("対象").select_option("list")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("#result-count")).to_have_text("2 件")  # the campaign's change is not the list's
    expect(page.locator("tr[data-action='login.failed']")).to_have_count(0)
    page.screenshot(path=str(screenshots / "audit-01-filtered.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="CSVをダウンロード").click()
    data = Path(download.value.path()).read_bytes()
    text = data.decode("utf-8-sig")
    assert data.startswith(codecs.BOM_UTF8) and "list.created" in text and "list.changed" in text
    assert text.startswith("日時,誰が,接続元アドレス,操作,操作コード") and "リストの変更" in text
    assert "login.failed" not in text
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV（Shift_JIS）をダウンロード").click()
    assert "週刊ニュース" in Path(download.value.path()).read_bytes().decode("cp932")

    page.goto("/audit/?from=2026-99-01")
    expect(page.locator(".flash")).to_contain_text("from には日付")
    # A start after the end, chosen in the form: said so, the days kept to correct, and no entries listed.
    page.goto("/audit/")
    page.get_by_label("開始日").fill("2026-12-31")
    page.get_by_label("終了日").fill("2026-01-01")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator(".flash")).to_contain_text("「開始日」は「終了日」より後にできません。")
    expect(page.get_by_label("開始日")).to_have_value("2026-12-31")
    expect(page.get_by_label("終了日")).to_have_value("2026-01-01")
    expect(page.locator("tr[data-entry]")).to_have_count(0)
    page.screenshot(path=str(screenshots / "audit-02-bad-dates.png"), full_page=True)
    context.close()
