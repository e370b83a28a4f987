"""The UI in a real browser: each role logs in and sees, and may do, only what it should."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import ja_context, log_in
from tests.helpers import PASSWORD

pytestmark = pytest.mark.browser

NAV = ["Dashboard", "Lists", "Subscribers", "Campaigns", "Automations", "Templates", "Outbox", "Settings", "Users",
       "Audit log", "System health"]  # the last four in the admin's menu
VISIBLE_NAV = {
    "viewer": NAV[:7],
    "editor": NAV[:7],
    "admin": NAV,
}


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server, locale="en-US", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_each_role_sees_and_may_do_only_its_part(page: Any, users: dict[str, str], role: str,
                                                 screenshots: Path) -> None:
    log_in(page, role)
    page.wait_for_url("**/")
    nav = page.locator("nav.nav a").all_text_contents()
    assert nav == VISIBLE_NAV[role]
    assert page.locator("details.nav-menu").count() == (role == "admin")
    # The bar keeps one line at 1280 px: every item's top is the first's.
    tops = {round(box["y"]) for box in (item.bounding_box() for item in
                                          page.locator("nav.nav > a, nav.nav > details > summary").all())}
    assert len(tops) == 1, tops
    assert page.locator(".who").inner_text().endswith(role.capitalize())
    page.screenshot(path=str(screenshots / f"dashboard-{role}.png"), full_page=True)

    # The Outbox's test-send form is there only for those who may send.
    page.goto("/outbox/")
    assert page.locator("form[action='/outbox/test']").count() == (0 if role == "viewer" else 1)

    # Admin pages: a 403 page for the others, typed URL or not.
    for path in ("/users/", "/settings"):
        response = page.goto(path)
        assert response is not None
        assert response.status == (200 if role == "admin" else 403), path
        if role != "admin":
            assert "You do not have permission to do this." in page.inner_text("main")


def test_wrong_password_is_explained_in_the_form(page: Any, users: dict[str, str]) -> None:
    log_in(page, "admin", "not my password")
    assert page.locator(".field.has-error .error").inner_text() == "The username or password is wrong."
    assert page.url.endswith("/login")


def test_admin_creates_an_api_token_that_reads_the_api(page: Any, users: dict[str, str], live_server: str) -> None:
    log_in(page, "admin")
    page.goto("/users/")
    page.click("summary:has-text('Add an API user')")
    assert page.input_value("select[name=token-role]") == "viewer"  # least power unless chosen
    page.fill("input[name=token-username]", "webshop")
    page.select_option("select[name=token-role]", "editor")
    page.click("form[action='/users/tokens'] button[type=submit]")
    page.wait_for_url("**/users/")  # redirected: a reload cannot create a second token
    pair = page.locator("#new-token").inner_text().strip()
    assert pair.startswith("webshop:")
    response = page.request.get(f"{live_server}/api/lists", headers={"Authorization": f"token {pair}"})
    assert response.status == 200 and response.json()["data"]["total"] == 0
    # Once the page is reloaded, the token is gone from the UI for good.
    page.reload()
    assert page.locator("#new-token").count() == 0
    assert page.locator("tr[data-user=webshop]").count() == 1


def test_first_run_setup_then_japanese_dashboard(browser: Any, live_server: str, screenshots: Path) -> None:
    context = ja_context(browser, live_server)
    page = context.new_page()
    page.goto("/")
    assert page.url.endswith("/setup")
    page.screenshot(path=str(screenshots / "setup-ja.png"))
    page.fill("input[name=username]", "shacho")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert page.locator("h1").inner_text() == "ダッシュボード"
    assert page.locator("nav.nav a").first.inner_text() == "ダッシュボード"
    page.screenshot(path=str(screenshots / "dashboard-ja.png"), full_page=True)
    context.close()


def test_language_switch_on_the_login_page(page: Any, users: dict[str, str], screenshots: Path) -> None:
    page.goto("/login")
    assert page.locator("button[type=submit]").inner_text() == "Log in"
    with page.expect_navigation():
        page.select_option("#language-select", "ja")  # submits itself on change
    assert page.locator("button[type=submit]").inner_text() == "ログイン"
    page.screenshot(path=str(screenshots / "login-ja.png"))


def test_phone_width_menu_opens(browser: Any, live_server: str, users: dict[str, str], screenshots: Path) -> None:
    context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 740})
    page = context.new_page()
    log_in(page, "admin")
    page.wait_for_url("**/")
    assert not page.locator("nav.nav").is_visible()
    page.click("label.nav-toggle-label")
    page.click("details.nav-menu summary")
    assert page.locator("nav.nav a:has-text('Users')").is_visible()
    page.screenshot(path=str(screenshots / "phone-menu.png"), full_page=True)
    context.close()


def test_navigation_marks_exactly_the_current_section(page: Any, users: dict[str, str]) -> None:
    log_in(page, "admin")
    page.wait_for_url("**/")
    for path, current in (("/", "Dashboard"), ("/lists/", "Lists"), ("/subscribers/", "Subscribers"),
                          ("/outbox/", "Outbox"), ("/users/", "Users")):
        page.goto(path)
        assert page.locator("nav.nav a[aria-current=page]").all_text_contents() == [current], path
        # An admin page marks the menu that holds it, closed.
        assert page.locator("details.nav-menu summary.current").count() == (current == "Users"), path
