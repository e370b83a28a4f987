"""The audience issue's acceptance walk, in Japanese, in one browser session.

Create a list → import a CSV with a mapping → see progress → open a subscriber's timeline → build a
segment and see its count → subscribe through the public form → confirm from the mail → unsubscribe.
A real RQ worker runs the jobs, and the mail goes through the capture SMTP server.
"""

from __future__ import annotations

from itertools import count
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from mailer.outbox import Outbox
from tests.browser.helpers import ja_context, log_in, mailed_link
from tests.helpers import run_jobs, statuses, subscriber

pytestmark = pytest.mark.browser

LIST = "お客様通信"
# What Excel on a Japanese PC saves (CP932, CRLF): a full-width address and digits, docomo's legacy
# form, a header injection inside a quoted field (lines 4-5) and a row with too few columns (line 6).
CSV = (
    "メールアドレス,氏名,都道府県,年齢\r\n"
    "ｓａｔｏ＠ｅｘａｍｐｌｅ．ｊｐ,佐藤一郎,大阪,３５\r\n"
    "taro..yamada.@docomo.ne.jp,山田太郎,大阪,28\r\n"
    '"a@b.c\r\nBcc: x@y.z",悪意,東京,40\r\n'
    "壊れた行\r\n"
    "hanako@example.jp,鈴木花子,東京,41\r\n"
)


def test_audience_walk(browser: Any, live_server: str, app: Any, users: dict[str, str], capture: Outbox,
                       screenshots: Path, tmp_path: Path) -> None:
    context = ja_context(browser, live_server)
    page = context.new_page()
    step = count(1)

    def shot(name: str, on: Any = page) -> None:
        on.screenshot(path=str(screenshots / f"walk-{next(step):02d}-{name}.png"), full_page=True)

    # 1. The editor creates a public, double opt-in list.
    log_in(page, "editor")
    page.goto("/lists/")
    page.fill("input[name=name]", LIST)
    page.select_option("select[name=type]", "public")
    page.select_option("select[name=optin]", "double")
    page.click("form[action='/lists/'] button[type=submit]")
    expect(page.locator("h1")).to_have_text(LIST)
    shot("list")

    # 2. Upload the CP932 file; the preview decodes it and guesses the mapping, which the editor completes.
    csv_file = tmp_path / "顧客名簿.csv"
    csv_file.write_bytes(CSV.encode("cp932"))
    page.goto("/subscribers/")
    page.click("a:text-is('CSVをインポート')")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("button[type=submit].primary")
    assert "cp932" in page.input_value("#encoding")
    assert "佐藤一郎" in page.inner_text("table.preview")
    assert page.input_value("select[name=col-0-target]") == "email"
    assert page.input_value("select[name=col-1-target]") == "name"
    page.select_option("select[name=col-3-type]", "number")
    page.select_option("select[name=lists]", label=LIST)
    shot("preview")

    # 3. Start it: the progress page waits for a worker, then the worker runs and the page's poll reloads it.
    page.click("#import-form button[type=submit]")
    expect(page.locator("[data-field=status-label]")).to_have_text("ワーカーを待っています")
    shot("progress-queued")
    run_jobs(app)
    expect(page.locator("[data-field=status-label]")).to_have_text("完了", timeout=10_000)
    assert page.locator("[data-field=imported]").inner_text() == "3"
    assert page.locator("[data-field=failed]").inner_text() == "2"
    bad = dict(zip(page.locator("table.errors td.num").all_inner_texts(),
                   page.locator("table.errors td:nth-child(2)").all_inner_texts(), strict=True))
    assert bad == {"4": "メールアドレスに改行や制御文字を含めることはできません。",  # the quoted field starts on line 4
                   "6": "4 列のはずが 1 列あります。"}
    shot("import-finished")

    # 4. The good rows are there, the legacy address as written; open its timeline.
    page.goto("/subscribers/")
    expect(page.locator("#result-count")).to_have_text("3 人の購読者")
    assert sorted(page.locator("tr[data-email]").evaluate_all("rows => rows.map(r => r.dataset.email)")) == [
        "hanako@example.jp", "sato@example.jp", "taro..yamada.@docomo.ne.jp"]
    page.click("text=taro..yamada.@docomo.ne.jp")
    expect(page.locator("h1")).to_have_text("山田太郎")
    assert f"「{LIST}」を購読" in page.inner_text("ol.timeline")
    assert "顧客名簿.csv" in page.inner_text("table.consent")  # the file is the consent evidence
    assert statuses(app, "taro..yamada.@docomo.ne.jp") == {LIST: "confirmed"}
    assert subscriber(app, "sato@example.jp").attribs == {"都道府県": "大阪", "年齢": 35}
    shot("timeline")

    # 5. A segment from rules: confirmed on the list, in Osaka, 30 or older; the count follows each rule.
    page.goto("/subscribers/")
    page.click("a:text-is('セグメント')")
    page.click("a:text-is('新しいセグメント')")
    page.fill("input[name=name]", "大阪の30歳以上")
    live_count = page.locator("#segment-count")
    page.click("#add-rule")
    on_list = page.locator(".rule-row").nth(0)
    on_list.locator("select.field").select_option("list")
    on_list.locator("select.choice").select_option(label=LIST)
    on_list.locator("select.subscription").select_option("confirmed")
    expect(live_count).to_have_text("3")
    page.click("#add-rule")
    prefecture = page.locator(".rule-row").nth(1)
    prefecture.locator("input.key").fill("都道府県")
    prefecture.locator("input.value").fill("大阪")
    expect(live_count).to_have_text("2")
    page.click("#add-rule")
    age = page.locator(".rule-row").nth(2)
    age.locator("input.key").fill("年齢")
    age.locator("select.type").select_option("number")
    age.locator("select.op").select_option("gte")
    age.locator("input.value").fill("30")
    expect(live_count).to_have_text("1")
    shot("segment")
    page.click("button[type=submit].primary")
    expect(page.locator(".flash")).to_contain_text("保存しました")
    page.click("text=該当する購読者を見る")
    expect(page.locator("#result-count")).to_have_text("1 人の購読者")
    assert page.locator("tr[data-email]").evaluate_all("rows => rows.map(r => r.dataset.email)") == [
        "sato@example.jp"]

    # 6. A visitor on a phone subscribes through the public form: unconfirmed until they confirm.
    visitor = ja_context(browser, live_server, width=390)
    form = visitor.new_page()
    form.goto("/subscription/form")
    expect(form.locator("h1")).to_have_text("ニュースレターの購読")
    assert form.is_checked(f"label.check:has-text('{LIST}') input")  # the only public list
    form.fill("input[name=email]", "ｈｉｋａｒｉ＠example.jp")
    form.fill("input[name=name]", "田中ひかり")
    shot("public-form", form)
    form.click("button[type=submit]")  # full-width, as typed with the IME on: the server normalises it
    expect(form.locator("main")).to_contain_text("受信箱をご確認ください")
    assert statuses(app, "hikari@example.jp") == {LIST: "unconfirmed"}

    # 7. The worker mails the confirmation; its link shows a page, and only the button confirms.
    run_jobs(app)
    assert [entry.to for entry in capture.page(1, 10)[0]] == ["田中ひかり <hikari@example.jp>"]
    form.goto(mailed_link(capture, "/subscription/optin/"))
    assert "hikari@example.jp" in form.inner_text("main")
    shot("optin", form)
    assert statuses(app, "hikari@example.jp") == {LIST: "unconfirmed"}
    form.click("button[type=submit]")
    expect(form.locator("h1")).to_have_text("購読が確認されました")
    assert statuses(app, "hikari@example.jp") == {LIST: "confirmed"}

    # 8. Unsubscribe on the public page: GET only asks, POST unsubscribes.
    form.click("text=購読の設定を変更する")
    form.click("text=すべての配信を停止する")
    expect(form.locator("h1")).to_have_text("配信停止")
    shot("unsubscribe", form)
    assert statuses(app, "hikari@example.jp") == {LIST: "confirmed"}
    form.click("button[type=submit]")
    expect(form.locator("h1")).to_have_text("配信を停止しました")
    assert statuses(app, "hikari@example.jp") == {LIST: "unsubscribed"}
    shot("unsubscribed", form)
    visitor.close()

    # 9. The editor sees the visitor's whole story on their timeline.
    page.goto("/subscribers/")
    page.click("text=hikari@example.jp")
    expect(page.locator("h1")).to_have_text("田中ひかり")
    assert page.locator("ol.timeline li strong").all_inner_texts() == [
        f"「{LIST}」の購読を解除", f"「{LIST}」を購読", f"「{LIST}」を購読（確認待ち）"]  # newest first
    shot("visitor-timeline")
    context.close()
