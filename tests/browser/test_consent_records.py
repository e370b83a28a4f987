"""The consent records' page, in Japanese: an admin finds it from Subscribers, picks a list and days, and
downloads the CSV in Shift_JIS; a first day after the last one is said so, with what was chosen kept."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from lists.consent_evidence import coded
from lists.models import ConsentMethod
from lists.services import create_list
from lists.subscribers import Consent, create_subscriber
from tests.browser.helpers import ja_context, log_in

pytestmark = pytest.mark.browser

# Each filter label's words and its control: on one line, the words first, however the row wraps.
LABEL_BESIDE_CONTROL = """() => [...document.querySelectorAll('form.filters label')].map(label => {
  const words = [...label.childNodes].find(node => node.nodeType === Node.TEXT_NODE && node.textContent.trim());
  const range = document.createRange();
  range.selectNodeContents(words);
  const text = range.getBoundingClientRect(), control = label.control.getBoundingClientRect();
  const middle = box => (box.top + box.bottom) / 2;
  return [words.textContent.trim(), Math.abs(middle(text) - middle(control)) < 8 && text.right <= control.left];
})"""


def test_an_admin_downloads_the_consent_records_of_a_list(browser: Any, live_server: str, app: Any,
                                                          users: dict[str, str], screenshots: Path) -> None:
    with app.app_context():
        news = create_list({"name": "お知らせ"})
        create_list({"name": "セール"})
        news_id = news.id
        create_subscriber({"email": "taro@example.jp", "lists": [news.id], "preconfirm_subscriptions": True},
                          Consent(ConsentMethod.ADMIN, evidence=coded("admin", user="admin")))
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "admin")
    page.goto("/subscribers/")
    page.get_by_role("link", name="同意の記録").click()
    expect(page.locator("[data-retention]")).to_contain_text("無期限に保管")
    for width in (1280, 1000, 700):
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate(LABEL_BESIDE_CONTROL) == [
            ["リスト", True], ["開始日", True], ["終了日", True], ["文字コード", True]], width
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(screenshots / "consent-00-filters.png"), full_page=True)
    page.select_option("#list_id", label="お知らせ")
    page.fill("#from", "2026-12-31")
    page.fill("#to", "2026-01-01")
    page.get_by_role("button", name="CSVをダウンロード").click()
    expect(page.locator("[data-error]")).to_have_text("開始日は終了日より後にできません。")  # named as labelled
    expect(page.locator("#list_id")).to_have_value(str(news_id))  # what was chosen is kept
    page.screenshot(path=str(screenshots / "consent-01-refused.png"), full_page=True)
    page.fill("#from", "")
    page.fill("#to", "")
    page.select_option("#encoding", "cp932")
    with page.expect_download() as caught:
        page.get_by_role("button", name="CSVをダウンロード").click()
    download = caught.value
    assert download.suggested_filename == "consent-records-cp932.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_bytes().decode("cp932"))))
    assert rows[0][:3] == ["記録日時", "メールアドレス", "リスト"]
    # Codes in Japanese words (the status, the method); the operator is the admin's user name, as they log in.
    assert [(row[1], row[2], row[3], row[4], row[8]) for row in rows[1:]] == [
        ("taro@example.jp", "お知らせ", "確認済み", "管理画面から", "admin")]
    # The Lists page leads here too, and a list's page with that list chosen.
    page.goto("/lists/")
    page.get_by_role("link", name="同意の記録").click()
    expect(page.locator("h1")).to_have_text("同意の記録")
    page.goto("/lists/")
    page.get_by_role("link", name="お知らせ").click()
    page.get_by_role("link", name="このリストの同意の記録").click()
    expect(page.locator("#list_id")).to_have_value(str(news_id))
    context.close()
