"""Settings → SMTP relays in a Japanese browser: add a relay on a live aiosmtpd server and test its connection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import log_in
from tests.mailer.helpers import Received

pytestmark = pytest.mark.browser


def test_add_a_relay_and_test_its_connection(page_ja: Any, users: dict[str, str],
                                             smtp_server: Callable[..., tuple[int, Received]],
                                             screenshots: Path) -> None:
    port, _handler = smtp_server()
    log_in(page_ja, "admin")
    page_ja.goto("/settings")
    page_ja.get_by_role("link", name="SMTP リレー").click()
    expect(page_ja.get_by_text("有効なリレーがないため")).to_be_visible()
    page_ja.get_by_role("link", name="リレーを追加").click()
    page_ja.get_by_label("名前").fill("社内リレー")
    page_ja.get_by_label("ホスト").fill("127.0.0.1")
    page_ja.get_by_label("ポート").fill("99999")
    page_ja.get_by_label("暗号化").select_option("none")
    page_ja.get_by_label("重み（送信量の割合）").fill("3")
    page_ja.get_by_role("button", name="リレーを追加").click()
    expect(page_ja.locator(".has-error .error")).to_have_text("ポートには 1 から 65535 までの整数を入力してください。")
    page_ja.screenshot(path=str(screenshots / "relays-01-bad-port.png"), full_page=True)
    page_ja.get_by_label("ポート").fill(str(port))
    page_ja.get_by_role("button", name="リレーを追加").click()
    row = page_ja.locator("tr[data-relay='社内リレー']")
    expect(row).to_contain_text(f"127.0.0.1:{port}")
    expect(row.locator("[data-health]")).to_have_text("稼働中")
    row.get_by_role("button", name="接続をテスト").click()
    expect(page_ja.locator(".flash-success")).to_have_text(
        f"127.0.0.1:{port} に接続しました。EHLO と NOOP に応答しました。")
    page_ja.screenshot(path=str(screenshots / "relays-02-tested.png"), full_page=True)
