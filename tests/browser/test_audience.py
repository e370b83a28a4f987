"""The audience pages in a real browser, in Japanese: list, subscriber, timeline, bulk action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailer.outbox import Outbox
from tests.browser.helpers import ja_context, log_in, mailed_link
from tests.helpers import run_jobs

pytestmark = pytest.mark.browser


def test_editor_builds_a_list_adds_subscribers_and_reads_a_timeline(page_ja: Any, users: dict[str, str],
                                                                     screenshots: Path) -> None:
    page = page_ja
    log_in(page, "editor")
    page.goto("/lists/")
    page.fill("input[name=name]", "月刊ニュース")
    page.select_option("select[name=optin]", "double")
    page.click("form[action='/lists/'] button[type=submit]")
    assert page.locator("h1").inner_text() == "月刊ニュース"

    for email, name in (("ｙａｍａｄａ＠example.jp", "山田太郎"), ("hanako..x.@docomo.ne.jp", "佐藤花子")):
        page.goto("/subscribers/")
        if not page.is_visible("input[name=new-email]"):
            page.click("summary:has-text('購読者を追加')")  # folded away once the list is not empty
        page.fill("input[name=new-email]", email)
        page.fill("input[name=new-name]", name)
        page.select_option("select[name=new-lists]", label="月刊ニュース")
        page.click("form[method=post][action='/subscribers/'] button[type=submit]")
        assert page.locator("h1").inner_text() == name

    # The carrier's legacy address was kept as typed; the timeline tells what happened, in Japanese.
    assert "hanako..x.@docomo.ne.jp" in page.inner_text("main")
    assert page.locator("ol.timeline li").first.inner_text().count("「月刊ニュース」を購読") == 1
    page.screenshot(path=str(screenshots / "subscriber-ja.png"), full_page=True)

    page.goto("/subscribers/")
    assert page.locator("#result-count").inner_text() == "2 人の購読者"
    page.check("input[aria-label='yamada@example.jp']")
    page.select_option("select[name=action]", "unsubscribe")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bulk-form .bulk button[type=submit]")
    page.wait_for_load_state()
    assert "1 人の購読者を変更しました。" in page.inner_text(".flash")
    assert page.locator("tr[data-email='yamada@example.jp'] .badge.state-unsubscribed").count() == 1
    page.screenshot(path=str(screenshots / "subscribers-ja.png"), full_page=True)

    page.goto("/lists/")
    page.screenshot(path=str(screenshots / "lists-ja.png"), full_page=True)


def test_import_with_progress_then_public_signup_confirm_and_unsubscribe(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path, tmp_path: Path,
        capture: Outbox) -> None:
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto("/lists/")
    page.fill("input[name=name]", "お客様通信")
    page.select_option("select[name=type]", "public")
    page.select_option("select[name=optin]", "double")
    page.click("form[action='/lists/'] button[type=submit]")

    # Import a CP932 file as Excel saves it, mapping the columns in the preview.
    csv_file = tmp_path / "顧客.csv"
    csv_file.write_bytes("メール,名前,誕生日\r\nｓａｔｏ＠example.jp,佐藤,1990/04/01\r\nbroken\r\n".encode("cp932"))
    page.goto("/subscribers/import/")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("button[type=submit].primary")
    assert "cp932" in page.input_value("#encoding")
    page.select_option("select[name=col-2-type]", "date")
    page.select_option("select[name=lists]", label="お客様通信")
    page.click("#import-form button[type=submit]")
    assert page.locator("[data-field=status-label]").inner_text() == "ワーカーを待っています"
    run_jobs(app)  # the worker runs; the page's poll notices and reloads
    page.wait_for_selector("text=完了", timeout=10000)
    assert page.locator("table.errors td.num").inner_text() == "3"  # the broken row, by line number
    page.screenshot(path=str(screenshots / "import-finished-ja.png"), full_page=True)

    page.goto("/subscribers/")
    page.click("text=sato@example.jp")
    assert "「お客様通信」を購読" in page.inner_text("ol.timeline")
    assert '"1990-04-01"' in page.input_value("textarea[name=attribs]")

    # A visitor subscribes through the public form, confirms from the mail, then unsubscribes.
    visitor = ja_context(browser, live_server, width=390)
    form = visitor.new_page()
    form.goto("/subscription/form")
    form.fill("input[name=email]", "visitor@example.jp")
    form.fill("input[name=name]", "来訪者")
    form.screenshot(path=str(screenshots / "public-form-ja.png"), full_page=True)
    form.click("button[type=submit]")
    assert "受信箱をご確認ください" in form.inner_text("main")
    run_jobs(app)
    form.goto(mailed_link(capture, "/subscription/optin/"))
    form.click("button[type=submit]")
    assert form.locator("h1").inner_text() == "購読が確認されました"
    form.click("text=購読の設定を変更する")
    form.click("text=すべての配信を停止する")
    assert form.locator("h1").inner_text() == "配信停止"  # the page only asks
    form.click("button[type=submit]")
    assert form.locator("h1").inner_text() == "配信を停止しました"
    form.screenshot(path=str(screenshots / "public-unsubscribed-ja.png"), full_page=True)
    visitor.close()
    context.close()


def test_event_import_of_an_order_export_lands_on_the_timeline(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path, tmp_path: Path) -> None:
    page = ja_context(browser, live_server).new_page()
    log_in(page, "editor")
    orders = tmp_path / "受注.csv"
    orders.write_bytes(("注文番号,注文日時,メールアドレス,商品名,金額\r\n"
                        "A-1,2026/11/03 14:05,ｓａｔｏ＠example.jp,プリンター PX-1,39800\r\n"
                        "A-2,2026/13/03 14:05,sato@example.jp,インク,3200\r\n").encode("cp932"))
    page.goto("/subscribers/import/")
    page.click("text=CSV からイベント")  # the subscribers' import page leads there
    page.set_input_files("input[name=file]", str(orders))
    page.click("button[type=submit].primary")
    assert "cp932" in page.input_value("#encoding")
    assert page.input_value("#event_name") == "purchase"
    page.select_option("select[name=col-4-type]", "number")
    page.check("#create_subscriber")
    page.screenshot(path=str(screenshots / "event-import-preview-ja.png"), full_page=True)
    page.click("#import-form button[type=submit]")
    run_jobs(app)  # the worker runs; the page's poll notices and reloads
    page.wait_for_selector("text=完了", timeout=10000)
    assert page.locator("[data-field=imported]").inner_text() == "1"
    assert page.locator("table.errors td.num").inner_text() == "3"  # the 13th month, by line number
    page.screenshot(path=str(screenshots / "event-import-finished-ja.png"), full_page=True)

    page.goto("/subscribers/")
    page.click("text=sato@example.jp")
    assert "イベント「purchase」" in page.inner_text("ol.timeline")


def test_segment_built_from_rows_shows_a_live_count(browser: Any, live_server: str, app: Any,
                                                    users: dict[str, str], screenshots: Path) -> None:
    from core.db import db
    from lists.models import Subscriber

    with app.app_context():
        for i, city in enumerate(["大阪", "大阪", "東京"]):
            db.session.add(Subscriber(email=f"u{i}@example.jp", email_key=f"u{i}@example.jp", name=f"U{i}",
                                      attribs={"city": city, "age": 20 + i * 10}))
        db.session.commit()
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto("/subscribers/segments/new")
    page.fill("input[name=name]", "大阪の会員")
    page.click("#add-rule")
    row = page.locator(".rule-row").first
    row.locator("input.key").fill("city")
    row.locator("input.value").fill("大阪")
    page.wait_for_function("() => document.getElementById('segment-count').textContent === '2'")
    page.click("#add-rule")
    second = page.locator(".rule-row").nth(1)
    second.locator("input.key").fill("age")
    second.locator("select.type").select_option("number")
    second.locator("select.op").select_option("gte")
    second.locator("input.value").fill("30")
    page.wait_for_function("() => document.getElementById('segment-count').textContent === '1'")
    page.screenshot(path=str(screenshots / "segment-editor-ja.png"), full_page=True)
    page.click("button[type=submit].primary")
    assert "保存しました" in page.inner_text(".flash")
    page.click("text=該当する購読者を見る")
    assert page.locator("#result-count").inner_text() == "1 人の購読者"
    context.close()


def test_attribute_rows_edit_the_json_for_people_who_do_not_write_it(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path) -> None:
    from core.db import db
    from lists.models import Subscriber

    with app.app_context():
        subscriber = Subscriber(email="a@example.jp", email_key="a@example.jp", name="A", attribs={"city": "大阪"})
        db.session.add(subscriber)
        db.session.commit()
        subscriber_id = subscriber.id
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto(f"/subscribers/{subscriber_id}")
    assert not page.is_visible("textarea[name=attribs]")  # rows instead of JSON
    page.locator(".attribute-row input.value").first.fill("京都")
    page.click("text=属性を追加")
    new_row = page.locator(".attribute-row").nth(1)
    new_row.locator("input.key").fill("ポイント")
    new_row.locator("select.kind").select_option("number")
    new_row.locator("input.value").fill("120")
    page.screenshot(path=str(screenshots / "attributes-ja.png"), full_page=True)
    page.click(f"form[action$='/subscribers/{subscriber_id}'] button[type=submit].primary")
    assert "保存しました" in page.inner_text(".flash")
    with app.app_context():
        assert db.session.get_one(Subscriber, subscriber_id).attribs == {"city": "京都", "ポイント": 120}
    context.close()
