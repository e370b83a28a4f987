"""Two-factor login in a Japanese browser: enrol with the key beside the QR code, log out, log in with a code.
And the content security policy really stops inline script in chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import csp_violations, log_in
from tests.helpers import Clock

pytestmark = pytest.mark.browser


def test_enrol_log_out_and_log_in_with_a_code(page_ja: Any, users: dict[str, str], clock: Clock,
                                              screenshots: Path) -> None:
    page = page_ja
    log_in(page, "admin")
    page.wait_for_url("**/")
    page.click("a.who")  # one's own page: the name in the top bar
    expect(page.locator("h1")).to_have_text("アカウント")
    page.get_by_role("link", name="2段階認証を設定").click()
    expect(page.locator(".qr svg")).to_be_visible()
    page.screenshot(path=str(screenshots / "two-factor-1-qr.png"), full_page=True)

    # As a phone would: the key shown beside the QR code makes the code.
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("input[name=code]", "000000")
    page.get_by_role("button", name="2段階認証をオンにする").click()
    expect(page.locator(".field.has-error .error")).to_contain_text("コードが一致しません")
    page.fill("input[name=code]", pyotp.TOTP(secret).at(clock.now()))
    page.get_by_role("button", name="2段階認証をオンにする").click()
    expect(page.locator("h1")).to_have_text("2段階認証がオンになりました")
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    page.screenshot(path=str(screenshots / "two-factor-2-recovery-codes.png"), full_page=True)

    page.get_by_role("link", name="完了").click()
    page.get_by_role("button", name="ログアウト").click()
    expect(page.locator(".flash")).to_contain_text("ログアウトしました")

    log_in(page, "admin")
    page.wait_for_url("**/login/code")
    expect(page.locator(".auth-card p.muted")).to_contain_text("6桁のコード")
    page.screenshot(path=str(screenshots / "two-factor-3-code.png"), full_page=True)
    clock.advance(30)  # the next code of the app (the enrolment's was taken)
    page.fill("input[name=code]", pyotp.TOTP(secret).at(clock.now()))
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url("**/")
    expect(page.locator("nav.nav")).to_contain_text("ダッシュボード")
    page.goto("/account/")
    expect(page.locator("#two-factor")).to_contain_text("残りのリカバリーコード：10個")
    page.screenshot(path=str(screenshots / "two-factor-4-account.png"), full_page=True)


def test_the_policy_stops_inline_script(page_ja: Any, users: dict[str, str]) -> None:
    """Injected markup cannot run script: chromium refuses it, and says so (what no_csp_violations watches)."""
    page = page_ja
    log_in(page, "viewer")
    page.wait_for_url("**/")
    page.evaluate("""() => {
        const script = document.createElement('script');
        script.textContent = 'window.injected = true';
        document.body.append(script);
    }""")
    assert page.evaluate("() => window.injected === undefined")
    assert any("inline script violates" in text for text in csp_violations)
    csp_violations.clear()  # seen on purpose
