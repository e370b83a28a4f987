"""The Settings page and the marketer's home in a Japanese browser: the checklist sends the admin to the legal
details, a bad value is refused at the top of the page (where the focus goes) and under its field, the saved details
hold for the next campaign, and the home shows subscribers over time (how to add the first ones while there are
none), lists and the campaign's rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from lists import growth
from mailer.outbox import Outbox
from tests.browser.helpers import log_in, screenshot
from tests.helpers import api_user, run_jobs
from tests.mailer.helpers import audience

pytestmark = pytest.mark.browser
LEGAL = ("KAIRAN_COMPANY_NAME", "KAIRAN_POSTAL_ADDRESS", "KAIRAN_CONTACT")


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """Legal details left to the Settings page; the tracking privacy setting fixed by the environment."""
    return {**{k: v for k, v in settings_env.items() if k not in LEGAL}, "KAIRAN_TRACK_IP": "hash"}


def test_the_checklist_leads_to_the_settings_whose_details_reach_the_next_campaign(
        app: Flask, page_ja: Any, users: dict[str, str], capture: Outbox, screenshots: Path) -> None:
    page = page_ja
    log_in(page, "admin")
    page.goto("/")
    checklist = page.locator("#checklist")
    expect(checklist).to_contain_text("セットアップのチェックリスト")
    expect(checklist).to_contain_text("5 項目中 0 項目が完了しています。")
    expect(checklist.locator("[data-step=legal]")).to_contain_text("未設定：会社名、住所、連絡先")
    screenshot(page, screenshots / "home-ja-01-checklist.png")

    checklist.get_by_role("link", name="送信者の表示事項の設定").click()
    expect(page.locator("h1")).to_have_text("設定")
    ip = page.locator("[data-setting=KAIRAN_TRACK_IP]")
    expect(ip.locator("select")).to_be_disabled()
    expect(ip).to_contain_text("環境変数 KAIRAN_TRACK_IP で設定されていて、この画面より優先されます。")
    # Not set yet, as the checklist says: empty, the default only a placeholder.
    expect(page.locator("#KAIRAN_COMPANY_NAME")).to_have_value("")
    expect(page.locator("#KAIRAN_COMPANY_NAME")).to_have_attribute("placeholder", "Kairan")
    screenshot(page, screenshots / "settings-ja-00-unset.png")
    page.fill("#KAIRAN_COMPANY_NAME", "回覧商事")
    page.fill("#KAIRAN_POSTAL_ADDRESS", "大阪市北区梅田1-2-3")
    page.fill("#KAIRAN_CONTACT", "info@")  # an address cut short: no one could write to it
    page.fill("#KAIRAN_SOFT_BOUNCES", "0")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="保存").click()
    assert answer.value.status == 400
    field = page.locator("[data-setting=KAIRAN_SOFT_BOUNCES]")
    refusal = "KAIRAN_SOFT_BOUNCES は 1 以上の整数にしてください（'0' は使えません）。"
    expect(field.locator(".error")).to_have_text(refusal)
    expect(page.locator("#KAIRAN_COMPANY_NAME")).to_have_value("回覧商事")  # what was typed stays
    # The refusal is said at the top, where the focus is, naming the field; its link leads to the field.
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.locator("h2")).to_have_text("設定は保存されていません")
    contact = "KAIRAN_CONTACT の 'info@' は @ を含みますが、info@example.jp のようなメールアドレスになっていません。"
    expect(summary.get_by_role("link")).to_have_text([f"連絡先：{contact}",
                                                      f"アドレスを配信停止にするソフトバウンス回数：{refusal}"])
    problem = summary.get_by_role("link", name=f"アドレスを配信停止にするソフトバウンス回数：{refusal}")
    expect(problem).to_have_attribute("href", "#KAIRAN_SOFT_BOUNCES")
    box = summary.bounding_box()
    assert box is not None and box["y"] + box["height"] < 800  # in the first screenful
    # The form takes the page's content width, as the table of settings set at start below it does.
    width = page.locator("#settings-form").bounding_box()["width"]
    assert width == page.locator("table.settings").bounding_box()["width"] > 1000
    screenshot(page, screenshots / "settings-ja-01-refused.png")
    problem.click()
    expect(page.locator("#KAIRAN_SOFT_BOUNCES")).to_be_focused()
    page.fill("#KAIRAN_SOFT_BOUNCES", "4")
    page.fill("#KAIRAN_CONTACT", "06-1234-5678")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash").first).to_have_text("設定を保存しました。次のキャンペーンから反映されます。")
    expect(page.locator("#KAIRAN_MAIL_FROM")).to_have_value("回覧商事 <kairan@127.0.0.1>")
    screenshot(page, screenshots / "settings-ja-02-saved.png")

    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    client = app.test_client()
    lists = audience(client, admin)
    campaign = client.post("/api/campaigns", headers=admin, json={
        "name": "12月号", "subject": "年末のお知らせ", "content_type": "html", "lists": lists,
        "body": "<p>本文</p>"}).get_json()["data"]
    assert client.put(f"/api/campaigns/{campaign['id']}/status", headers=admin,
                      json={"status": "running"}).get_json()["data"]["status"] == "running"
    run_jobs(app)
    entries, _total = capture.page(1, 10)
    html = capture.get(entries[0].key).html  # type: ignore[union-attr]
    assert html is not None and "回覧商事" in html and "大阪市北区梅田1-2-3" in html and "06-1234-5678" in html

    with app.app_context():
        growth.refresh()  # as a worker's periodic job counts them every minute
    page.goto("/")
    expect(page.locator("[data-step=legal]")).to_have_attribute("data-done", "true")
    audience_panel = page.locator("#audience")
    expect(audience_panel.locator("[data-total]")).to_have_text("3")
    expect(audience_panel.locator("svg.growth g")).to_have_count(30)
    expect(audience_panel.locator("tr[data-list]")).to_have_count(2)
    expect(page.locator("body")).to_contain_text("12月号")
    screenshot(page, screenshots / "home-ja-02-panels.png")

    page.locator("main").get_by_role("link", name="システムの状態").click()
    expect(page.locator("h1")).to_have_text("システムの状態")
    expect(page.locator("[data-component=database]")).to_contain_text("正常")
    screenshot(page, screenshots / "system-ja.png")


def test_a_new_installations_home_says_how_to_add_subscribers_and_shows_the_first_at_once(
        app: Flask, page_ja: Any, users: dict[str, str], screenshots: Path) -> None:
    page = page_ja
    log_in(page, "admin")
    page.goto("/")
    audience_panel = page.locator("#audience")
    expect(audience_panel.locator(".empty-title")).to_have_text("購読者はまだいません。")
    expect(audience_panel.get_by_role("link", name="CSVをインポート")).to_have_attribute("href", "/subscribers/import/")
    expect(audience_panel.get_by_role("link", name="購読者を追加")).to_have_attribute("href", "/subscribers/")
    expect(audience_panel.get_by_role("link", name="リスト", exact=True)).to_have_attribute("href", "/lists/")
    screenshot(page, screenshots / "home-ja-00-empty.png")

    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    audience(app.test_client(), admin)  # the first three subscribers, no worker counting them yet
    page.reload()
    expect(audience_panel.locator("[data-total]")).to_have_text("3")
    expect(audience_panel.locator(".empty-title")).to_have_count(0)
