"""The compose issue's acceptance walk, in Japanese, in one browser session.

An editor uploads an image to the media library, builds a newsletter from blocks in the visual editor
(heading, two columns, image from the library, button) by picking them in the block panel, personalises the
greeting, saves, previews it at phone width with the checks, sends a test, and finds it in the Outbox.
"""

from __future__ import annotations

import io
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from core.db import db
from lists.models import ConsentMethod
from lists.subscribers import Consent, create_subscriber
from mailer.campaigns import get_campaign, save_campaign
from mailer.media import upload
from mailer.models import Campaign
from mailer.outbox import Outbox
from tests.browser.helpers import add_block, ja_context, log_in
from tests.helpers import png, run_jobs

pytestmark = pytest.mark.browser


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """An installation with a postal address of its own, which the walk finds in the footer."""
    return {**settings_env, "KAIRAN_POSTAL_ADDRESS": "大阪市北区梅田1-2-3"}


def test_compose_walk(browser: Any, live_server: str, app: Any, users: dict[str, str], capture: Outbox,
                      screenshots: Path, tmp_path: Path) -> None:
    context = ja_context(browser, live_server, width=1400)
    page = context.new_page()
    step = count(1)

    def shot(name: str) -> None:
        page.screenshot(path=str(screenshots / f"compose-{next(step):02d}-{name}.png"), full_page=True)

    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    elsewhere: list[str] = []  # a self-hosted tool asks no third party for anything (GrapesJS telemetry, CDNs)
    page.on("request", lambda request: None if request.url.startswith(live_server) else elsewhere.append(request.url))
    with app.app_context():
        create_subscriber({"email": "taro@example.jp", "name": "山田 太郎"}, Consent(ConsentMethod.ADMIN))
    log_in(page, "editor")

    # 1. Upload a banner to the media library.
    banner = tmp_path / "バナー.png"
    banner.write_bytes(png(600, 200))
    page.goto("/media/")
    page.set_input_files("#files", str(banner))
    page.get_by_role("button", name="アップロード").click()
    expect(page.locator("figure[data-media='バナー.png']")).to_be_visible()

    # 2. A new campaign in the visual editor.
    page.goto("/campaigns/new")
    page.fill("#name", "11月のニュースレター")
    page.fill("#subject", "{{ subscriber.name }}様へ 11月のお知らせ")
    page.fill("#preheader", "今月のおすすめ商品と、冬のセールのご案内です。")
    canvas = page.frame_locator(".gjs-frame")
    expect(page.locator(".gjs-block[title='見出し']")).to_be_attached()
    add_block(page, "見出し")
    add_block(page, "2列")
    columns = canvas.locator("table td")
    expect(columns).to_have_count(2)

    # 3. An image from the media library in the left column, a button in the right one.
    add_block(page, "画像", columns.nth(0))
    page.locator(".gjs-am-asset", has=page.locator("[title*='バナー']")).or_(
        page.locator(".gjs-am-asset").first).first.dblclick()
    expect(canvas.locator("td img")).to_have_count(1)
    add_block(page, "ボタン", columns.nth(1))
    expect(canvas.locator("td a")).to_have_count(1)

    # 4. The greeting, personalised: the heading's text is typed over.
    heading = canvas.locator("h1")
    heading.dblclick()
    page.keyboard.press("Control+A")
    page.keyboard.type("{{ subscriber.name }}様、11月のお知らせです")
    canvas.locator("table").first.click()  # leave the text editor
    expect(heading).to_have_text("{{ subscriber.name }}様、11月のお知らせです")

    # 5. Undo and redo work; the phone view narrows the canvas.
    page.keyboard.press("Control+Z")
    page.keyboard.press("Control+Shift+Z")
    page.locator(".gjs-pn-btn[title='スマートフォン']").click()
    page.wait_for_function("() => document.querySelector('.gjs-frame').getBoundingClientRect().width < 400")
    shot("editor-phone")
    page.locator(".gjs-pn-btn[title='デスクトップ']").click()
    shot("editor")

    # 6. Save, then preview for a subscriber at desktop and phone width, with the checks.
    page.get_by_role("button", name="保存してプレビュー").click()
    expect(page.locator(".flash-success")).to_contain_text("保存しました")
    page.fill("#reader", "taro@example.jp")
    page.get_by_role("button", name="表示").click()
    expect(page.locator("[data-subject]")).to_have_text("山田 太郎様へ 11月のお知らせ")
    phone = page.frame_locator("iframe.phone")
    expect(phone.locator("h1")).to_have_text("山田 太郎様、11月のお知らせです")
    expect(phone.locator("img[src*='/media/']")).to_have_count(1)
    assert page.locator("iframe.phone").bounding_box()["width"] <= 375
    expect(page.locator("#checks")).to_contain_text("代替テキストがありません")  # the image has no alt text yet
    shot("preview")
    page.locator("iframe.phone").screenshot(path=str(screenshots / "compose-preview-phone.png"))

    # 7. A test send, rendered for the same reader, lands in the Outbox.
    page.fill("#addresses", "boss@example.jp")
    page.get_by_role("button", name="テスト送信").click()
    expect(page.locator(".flash-success")).to_contain_text("boss@example.jp")
    run_jobs(app)
    page.goto("/outbox/")
    page.get_by_text("山田 太郎様へ 11月のお知らせ").first.click()
    received = page.frame_locator("iframe")
    expect(received.locator("h1")).to_have_text("山田 太郎様、11月のお知らせです")
    expect(received.get_by_text("大阪市北区梅田1-2-3")).to_be_visible()  # the layout's legal footer
    shot("received")
    assert errors == [], errors
    assert elsewhere == [], elsewhere
    context.close()


def test_rich_text_editor_keeps_personalisation_and_inserts_library_images(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path) -> None:
    with app.app_context():
        upload("ロゴ.png", io.BytesIO(png()))
        greeting = '<p>{{ subscriber.attribs.city | default("お客様") }}へ</p>'
        campaign, _warnings = save_campaign(None, {"name": "リッチテキスト", "subject": "お知らせ",
                                                   "content_type": "richtext", "body": greeting})
        campaign_id = campaign.id
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto(f"/campaigns/{campaign_id}")
    editor = page.locator(".ql-editor")
    expect(editor).to_contain_text('{{ subscriber.attribs.city | default("お客様") }}へ')
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type("冬のセールを開催します。")
    page.locator(".ql-image").click()
    page.locator("#media-picker button[data-alt='ロゴ.png']").click()
    expect(editor.locator("img[src*='/media/']")).to_have_count(1)
    page.screenshot(path=str(screenshots / "compose-rich-text.png"), full_page=True)
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("保存しました")
    with app.app_context():
        body = get_campaign(campaign_id).body
    assert '{{ subscriber.attribs.city | default("お客様") }}へ' in body
    assert "冬のセールを開催します。" in body and "/media/" in body
    context.close()


def test_layout_editor_previews_at_once_and_refuses_a_broken_layout_with_its_line(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path) -> None:
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto("/templates/")
    page.get_by_role("link", name="ニュースレター / Newsletter").click()
    expect(page.frame_locator("iframe[name=template-preview]").get_by_text("大阪市北区梅田1-2-3")).to_be_visible()
    page.screenshot(path=str(screenshots / "compose-layout-editor.png"), full_page=True)
    # Line 2 opens a block that is never closed.
    page.evaluate("document.querySelector('.CodeMirror').CodeMirror.replaceRange('{% if subscriber.name %}\\n', "
                  "{line: 1, ch: 0})")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator(".flash-error")).to_contain_text("2 行目")
    context.close()


def test_switching_the_editing_mode_reopens_the_body_in_the_other_editor(
        browser: Any, live_server: str, app: Any, users: dict[str, str]) -> None:
    with app.app_context():
        campaign, _warnings = save_campaign(None, {"name": "切り替え", "subject": "お知らせ",
                                                   "content_type": "markdown",
                                                   "body": "# {{ subscriber.name }}様\n\n**春**のお知らせ"})
        campaign_id = campaign.id
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto(f"/campaigns/{campaign_id}")
    page.select_option("#content_type", "richtext")  # saves, converts, and reopens in the rich text editor
    expect(page.locator(".ql-editor h1")).to_have_text("{{ subscriber.name }}様")
    expect(page.locator(".ql-editor strong")).to_have_text("春")
    # On a campaign not saved yet, the page reopens in the other editor with what was typed.
    page.goto("/campaigns/new")
    page.fill("#name", "新しい号")
    page.select_option("#content_type", "markdown")
    expect(page.locator(".CodeMirror")).to_be_visible()
    expect(page.locator("#name")).to_have_value("新しい号")
    context.close()


def test_enter_in_the_visual_editors_settings_applies_the_field_and_blocks_stack(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path) -> None:
    """Enter in a trait field (a button's link, an image's alt text) sets it and submits nothing; blocks stack."""
    with app.app_context():
        upload("バナー.png", io.BytesIO(png(600, 200)))
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto("/campaigns/new")
    page.fill("#name", "Enter のテスト")
    page.fill("#subject", "お知らせ")
    canvas = page.frame_locator(".gjs-frame")
    expect(page.locator(".gjs-block[title='ボタン']")).to_be_attached()
    add_block(page, "ボタン")  # a block picked from the panel is selected
    page.locator(".gjs-pn-btn[title='設定']").click()
    link = page.locator(".gjs-trt-trait__wrp-href input")
    expect(link).to_have_value("https://example.com/")
    link.fill("https://shop.example.jp/sale")
    link.press("Enter")
    expect(canvas.locator("a[href='https://shop.example.jp/sale']")).to_have_count(1)  # Enter applied the link
    page.locator(".gjs-pn-btn[title='ブロック']").click()
    add_block(page, "画像")
    page.locator(".gjs-am-asset").first.dblclick()  # pick the banner from the library
    expect(canvas.locator("img[src*='/media/']")).to_have_count(1)
    page.locator(".gjs-pn-btn[title='設定']").click()
    alt = page.locator(".gjs-trt-trait__wrp-alt input")
    alt.fill("冬のセール")
    alt.press("Enter")
    expect(canvas.locator("img[alt='冬のセール']")).to_have_count(1)
    alt.press("Enter")  # once more, for the three drafts the issue found
    # A block added after the image stacks below it, not beside it.
    page.locator(".gjs-pn-btn[title='ブロック']").click()
    add_block(page, "ボタン")
    image_box = canvas.locator("img[alt='冬のセール']").bounding_box()
    second_button = canvas.locator("a").nth(1).bounding_box()
    assert image_box and second_button and second_button["y"] >= image_box["y"] + image_box["height"] - 1
    page.screenshot(path=str(screenshots / "compose-enter-in-settings.png"), full_page=True)
    assert page.url.endswith("/campaigns/new")  # still composing: nothing was submitted
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0
    # Saving still works, once.
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("保存しました")
    with app.app_context():
        saved = db.session.scalars(select(Campaign)).all()
        assert len(saved) == 1 and "https://shop.example.jp/sale" in saved[0].body
        assert 'alt="冬のセール"' in saved[0].body
        assert "display:block" in saved[0].body.replace(" ", "")  # the image stands alone in the mail too
    context.close()


def test_a_refused_campaign_says_every_problem_at_the_top_where_the_focus_goes(
        app: Any, page_ja: Any, users: dict[str, str], screenshots: Path) -> None:
    log_in(page_ja, "editor")
    page_ja.goto("/campaigns/new?content_type=markdown")
    page_ja.get_by_label("件名", exact=True).fill("{{ oops")
    page_ja.get_by_label("差出人", exact=True).fill("お店")
    page_ja.get_by_label("送信速度（1分あたりの通数）").fill("0")  # and no name: four problems, said at once
    with page_ja.expect_response(lambda r: r.request.method == "POST") as answer:
        page_ja.get_by_role("button", name="保存", exact=True).click()
    assert answer.value.status == 400
    summary = page_ja.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.locator("h2")).to_have_text("キャンペーンは保存されていません")
    expect(summary.get_by_role("link")).to_have_text([  # a message that names its field is not prefixed with it
        "キャンペーン名を入力してください。",
        "件名：1 行目：「{{」が「}}」で閉じられていません。",
        "差出人がメールアドレスではありません：お店",
        "送信速度（1分あたりの通数）には 1 から 2147483647 までの整数を入力してください。"])
    box = summary.bounding_box()
    assert box is not None and box["y"] + box["height"] < 800  # in the first screenful
    expect(page_ja.locator(".has-error .error")).to_have_count(4)  # and each under its field
    expect(page_ja.get_by_label("件名", exact=True)).to_have_value("{{ oops")  # what was typed is kept
    expect(page_ja.get_by_label("差出人", exact=True)).to_have_value("お店")
    page_ja.screenshot(path=str(screenshots / "campaign-refused.png"), full_page=False)
    summary.get_by_role("link", name="件名：1 行目：「{{」が「}}」で閉じられていません。").click()
    subject = page_ja.get_by_label("件名", exact=True)
    expect(subject).to_be_focused()
    subject.fill("春のお知らせ")
    page_ja.get_by_label("キャンペーン名").fill("春の案内")
    page_ja.get_by_label("差出人", exact=True).fill("")
    page_ja.get_by_label("送信速度（1分あたりの通数）").fill("60")
    page_ja.get_by_role("button", name="保存", exact=True).click()
    expect(page_ja.locator(".flash-success")).to_contain_text("春の案内")
    with app.app_context():
        saved = db.session.scalars(select(Campaign)).one()
        assert (saved.name, saved.subject, saved.rate_per_minute) == ("春の案内", "春のお知らせ", 60)
