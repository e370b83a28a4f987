"""Surveys in mail, in Japanese, in a real browser: an admin puts the NPS block into a campaign in the visual editor
and sends it; a reader follows the mailed link to 9, sees the answer on the confirm page, adds a comment and sends
it; the report shows the NPS, the distribution and the comment."""

from __future__ import annotations

import re
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from core.db import db
from lists.models import ConsentMethod
from lists.services import create_list
from lists.subscribers import Consent, create_subscriber
from mailer.outbox import Outbox
from surveys.models import SurveyAnswer
from tests.browser.helpers import add_block, ja_context, log_in, screenshot
from tests.helpers import run_jobs

pytestmark = pytest.mark.browser


def test_a_survey_in_a_campaign_answered_and_reported(browser: Any, live_server: str, app: Any,
                                                      users: dict[str, str], capture: Outbox,
                                                      screenshots: Path) -> None:
    with app.app_context():
        news = create_list({"name": "お客様の声"})
        for name in ("hanako", "taro"):
            create_subscriber({"email": f"{name}@example.jp", "name": name, "lists": [news.id],
                               "preconfirm_subscriptions": True}, Consent(ConsentMethod.ADMIN))
    context = ja_context(browser, live_server, width=1400)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())  # "send now?"
    log_in(page, "admin")

    # 1. The NPS block, from the block panel's survey blocks, into a new campaign.
    page.goto("/campaigns/new")
    page.fill("#name", "お客様アンケート")
    page.fill("#subject", "ご意見をお聞かせください")
    page.select_option("#lists", label=["お客様の声"])
    canvas = page.frame_locator(".gjs-frame")
    expect(page.locator(".gjs-block[title='NPS（0〜10）']")).to_be_attached()
    add_block(page, "NPS（0〜10）")
    expect(canvas.locator("table[data-survey='nps'] a")).to_have_count(11)
    expect(canvas.get_by_text("当店を友人や同僚にすすめる可能性はどのくらいありますか？")).to_be_visible()
    page.screenshot(path=str(screenshots / "surveys-01-editor.png"), full_page=True)
    page.get_by_role("button", name="保存してプレビュー").click()
    expect(page.locator(".flash-success")).to_contain_text("保存しました")
    page.get_by_role("button", name="今すぐ配信").click()
    expect(page.locator("[data-campaign-status]")).to_have_text("配信中")
    run_jobs(app)
    expect(page.locator("[data-campaign-status]")).to_have_text("完了", timeout=15000)

    # 2. The mail's link to 9, as hanako's mail client opens it: the redirect, then the confirm page.
    links = {}
    for entry in capture.page(1, 10)[0]:
        html = capture.get(entry.key).html or ""  # type: ignore[union-attr]
        links[parseaddr(entry.to)[1]] = re.findall(r'href="http://[^/"]+(/c/[0-9a-f-]+)"', html)
    reader = ja_context(browser, live_server, width=390)
    phone = reader.new_page()
    phone.on("pageerror", lambda error: errors.append(str(error)))
    phone.goto(links["hanako@example.jp"][9])  # 0, 1, … 10: the tenth link answers 9
    expect(phone.locator("[data-survey-answer]")).to_have_text("あなたの回答: 9 / 10")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SurveyAnswer)) == 0  # opening records nothing
    phone.fill("#comment", "スタッフの方がとても親切でした")
    phone.screenshot(path=str(screenshots / "surveys-02-confirm.png"), full_page=True)
    phone.get_by_role("button", name="この回答を送信する").click()
    expect(phone.locator("[data-survey-recorded]")).to_have_text("回答を受け付けました: 9 / 10")
    phone.screenshot(path=str(screenshots / "surveys-03-thanks.png"), full_page=True)
    # taro answers 5 without a comment.
    phone.goto(links["taro@example.jp"][5])
    phone.get_by_role("button", name="この回答を送信する").click()
    expect(phone.locator("[data-survey-recorded]")).to_be_visible()

    # 3. The report: NPS (one promoter, one detractor: 0), the distribution and the comment.
    page.locator("[data-report-link]").click()
    section = page.locator("[data-question='nps']")
    expect(section.locator("[data-score]")).to_have_text("NPS +0")
    expect(section).to_contain_text("2件の回答")
    expect(section).to_contain_text("スタッフの方がとても親切でした")
    # The distribution: the share column headed on the page; each bar half full (one of two answers), the
    # detractor's (5) red and the promoter's (9) green.
    expect(section.get_by_role("columnheader", name="割合")).to_be_visible()
    bars = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll("[data-question='nps'] tbody tr")]
        .map(row => { const bar = row.querySelector('.meter > span');
            return [row.dataset.answer, [Math.round(100 * bar.offsetWidth / bar.parentElement.offsetWidth),
                                         getComputedStyle(bar).backgroundColor]]; }))""")
    assert bars["5 / 10"] == [50, "rgb(185, 28, 28)"] and bars["9 / 10"] == [50, "rgb(21, 128, 61)"], bars
    assert bars["0 / 10"][0] == 0
    screenshot(page, screenshots / "surveys-04-report.png")
    assert errors == [], errors
    reader.close()
    context.close()


def _top_level(page: Any) -> list[str]:
    """The message's blocks in order: a survey by its question, others by their tag."""
    return page.evaluate("kairanEditor.getWrapper().components().map("
                         "c => c.getAttributes()['data-survey'] || c.get('tagName'))")


def test_survey_blocks_go_where_the_editor_is_working_and_sit_in_their_group(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path) -> None:
    """A clicked survey block goes after the selected block, as the others do, never inside another survey; the
    palette groups columns apart from the surveys; the questions end in a full-width question mark."""
    context = ja_context(browser, live_server, width=1400)
    page = context.new_page()
    log_in(page, "admin")
    page.goto("/campaigns/new")
    canvas = page.frame_locator(".gjs-frame")
    expect(page.locator(".gjs-block[title='見出し']")).to_be_attached()

    # The palette: the column blocks under their own heading, the survey group holding the three surveys only.
    groups = page.evaluate("""[...document.querySelectorAll('.gjs-block-category')].map(group => [
        group.querySelector('.gjs-title').textContent.trim(),
        [...group.querySelectorAll('.gjs-block')].map(block => block.title)])""")
    by_group = dict(groups)
    assert by_group["アンケート"] == ["NPS（0〜10）", "満足度（1〜5）", "はい/いいえ"]
    assert {"1列", "2列", "3列"} <= set(by_group["段組み"])
    assert page.locator(".gjs-blocks-no-cat .gjs-block").count() == 0  # no block left without a group
    screenshot(page, screenshots / "surveys-05-palette.png")

    # The greeting selected, a heading, then the NPS: each goes after the one before, near the top.
    add_block(page, "見出し")
    canvas.locator("div").filter(has_text="こちらに本文を書いてください").last.click()
    add_block(page, "NPS（0〜10）")
    assert _top_level(page) == ["div", "nps", "h1"]
    # A click on the NPS question selects the whole NPS: the next survey goes after it, not into its cell.
    canvas.get_by_text("当店を友人や同僚にすすめる可能性はどのくらいありますか？").click()
    page.wait_for_function("() => kairanEditor.getSelected()?.getAttributes()['data-survey'] === 'nps'")
    add_block(page, "はい/いいえ")
    assert _top_level(page) == ["div", "nps", "yes_no", "h1"]
    expect(canvas.locator("[data-survey] [data-survey]")).to_have_count(0)
    expect(canvas.get_by_text("お役に立ちましたか？")).to_be_visible()
    add_block(page, "満足度（1〜5）")  # the new survey is selected: the next follows it
    assert _top_level(page) == ["div", "nps", "yes_no", "satisfaction", "h1"]
    screenshot(page, screenshots / "surveys-06-placed.png")
    # A long message, nothing selected, the canvas at its top: a clicked block lands at the end, and the canvas
    # scrolls to show it landing.
    page.evaluate("kairanEditor.addComponents('<p style=\"height: 2000px\">長い本文</p>') && null")
    page.evaluate("kairanEditor.select(null) && null")
    page.evaluate("kairanEditor.Canvas.getWindow().scrollTo(0, 0) || null")
    add_block(page, "NPS（0〜10）")
    assert _top_level(page)[-1] == "nps"
    page.wait_for_function("""() => {
        const frame = kairanEditor.Canvas.getWindow();
        const surveys = frame.document.querySelectorAll('[data-survey="nps"]');
        const box = surveys[surveys.length - 1].getBoundingClientRect();
        return box.top < frame.innerHeight && box.bottom > 0 && frame.scrollY > 0;
    }""")
    context.close()


def test_the_preview_warns_of_a_survey_asked_twice_and_lines_up_its_buttons(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path) -> None:
    """The NPS block put in twice and a yes/no left without its question: the preview's checks say so, in Japanese;
    削除 sits in line with 今すぐ配信."""
    with app.app_context():
        create_list({"name": "お客様の声"})
    context = ja_context(browser, live_server, width=1400)
    page = context.new_page()
    log_in(page, "admin")
    page.goto("/campaigns/new")
    page.fill("#name", "二重のアンケート")
    page.fill("#subject", "ご意見をお聞かせください")
    page.select_option("#lists", label=["お客様の声"])
    expect(page.locator(".gjs-block[title='NPS（0〜10）']")).to_be_attached()
    add_block(page, "NPS（0〜10）")
    add_block(page, "はい/いいえ")
    add_block(page, "NPS（0〜10）")
    # The yes/no's question row gone (as the trash left it before a survey was one block): its buttons orphaned.
    page.evaluate("kairanEditor.getWrapper().find('table[data-survey=yes_no] tr')[0].remove() && null")
    page.get_by_role("button", name="保存してプレビュー").click()
    expect(page.locator(".flash-success")).to_contain_text("保存しました")
    checks = page.locator("#checks li")
    expect(checks.filter(has_text="アンケートの質問")).to_have_count(1)  # the yes/no, asked once, is not named
    expect(checks.filter(has_text="回答ボタンはありますが")).to_have_text(  # the NPS blocks, whole, are not named
        "! アンケートのブロックに回答ボタンはありますが、その上の質問（「お役に立ちましたか？」）がありません。"
        "読者は何に答えるのか分かりません。ブロックを削除して追加し直してください。")
    expect(checks.filter(has_text="アンケートの質問")).to_have_text(
        "! アンケートの質問「当店を友人や同僚にすすめる可能性はどのくらいありますか？」がこのメッセージに2回あります。"
        "どのブロックで回答されても同じ質問の回答として数えられます。1つにしてください。")
    # The delete button lines up with the buttons beside it: same top, same height, text on the same line.
    send = page.get_by_role("button", name="今すぐ配信").bounding_box()
    delete = page.locator("[data-delete-campaign]").bounding_box()
    assert send and delete
    assert abs(send["y"] - delete["y"]) < 1 and abs(send["height"] - delete["height"]) < 1, (send, delete)
    screenshot(page, screenshots / "surveys-07-preview-twice.png")
    page.locator("#checks").screenshot(path=str(screenshots / "surveys-08-checks.png"))
    context.close()


def _selected(page: Any) -> str | None:
    """The selected component: a survey by its question, others by their tag."""
    return page.evaluate("(c => c && (c.getAttributes()['data-survey'] || c.get('tagName')))"
                         "(kairanEditor.getSelected())")


def test_a_survey_is_one_block_selected_and_removed_whole(
        browser: Any, live_server: str, app: Any, users: dict[str, str], screenshots: Path) -> None:
    """A click anywhere in a survey (question, answer button, end label) selects the whole survey, badged アンケート;
    its parts cannot be removed, moved or copied alone; the trash removes the whole survey; a survey cannot be
    dropped into a coloured cell (a banner), only into the message or a plain column."""
    context = ja_context(browser, live_server, width=1400)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, "admin")
    page.goto("/campaigns/new")
    canvas = page.frame_locator(".gjs-frame")
    expect(page.locator(".gjs-block[title='NPS（0〜10）']")).to_be_attached()
    add_block(page, "NPS（0〜10）")
    survey = canvas.locator("table[data-survey='nps']")
    for part in (canvas.get_by_text("当店を友人や同僚にすすめる可能性はどのくらいありますか？"),
                 survey.get_by_role("link", name="3", exact=True), canvas.get_by_text("すすめない", exact=True),
                 survey.locator("td").last):
        page.evaluate("kairanEditor.select(null) && null")
        part.click()
        assert _selected(page) == "nps"
    expect(page.locator(".gjs-badge[data-badge]")).to_have_text("アンケート")
    assert page.evaluate("""kairanEditor.getWrapper().find('table[data-survey] *').every(part =>
        !part.get('selectable') && !part.get('removable') && !part.get('draggable') && !part.get('copyable'))""")
    screenshot(page, screenshots / "surveys-09-selected-whole.png")

    # Drops: into the message or a plain column, never into a coloured cell.
    add_block(page, "1列")
    can_drop = """(background) => {
        const cell = kairanEditor.getWrapper().find('td').filter(td => !td.closest('table[data-survey]')).pop();
        cell.addStyle({'background-color': background});
        const nps = kairanEditor.getWrapper().find('table[data-survey]')[0];
        return [kairanEditor.Components.canMove(kairanEditor.getWrapper(), nps).result,
                kairanEditor.Components.canMove(cell, nps).result];
    }"""
    assert page.evaluate(can_drop, "") == [True, True]
    assert page.evaluate(can_drop, "#b5142b") == [True, False]
    # A survey block clicked while the coloured cell is selected goes after its block, not into the cell.
    page.evaluate("""kairanEditor.select(kairanEditor.getWrapper().find('td')
        .filter(td => !td.closest('table[data-survey]')).pop()) && null""")
    add_block(page, "はい/いいえ")
    assert page.evaluate("kairanEditor.getWrapper().find('td table[data-survey]').length") == 0
    assert _top_level(page)[-1] == "yes_no"

    # A project saved before surveys were one block (the survey a plain table, its parts free) loads as one block.
    page.evaluate("""() => {
        const project = kairanEditor.getProjectData();
        const free = part => { ['selectable', 'removable', 'draggable', 'copyable', 'hoverable', 'layerable',
            'badgable', 'highlightable', 'editable', 'droppable'].forEach(prop => delete part[prop]);
            (part.components || []).forEach(free); };
        const walk = c => { if ((c.attributes || {})['data-survey']) { c.type = 'table'; delete c.name;
            (c.components || []).forEach(free); } (c.components || []).forEach(walk); };
        project.pages.forEach(p => p.frames.forEach(f => walk(f.component)));
        kairanEditor.loadProjectData(project);
    }""")
    assert page.evaluate("kairanEditor.getWrapper().find('table[data-survey]')[0].get('type')") == "table"
    canvas.get_by_text("当店を友人や同僚にすすめる可能性はどのくらいありますか？").click()
    assert _selected(page) == "nps"

    # The trash, with a part clicked, removes the whole survey: no answer buttons are left behind.
    survey.get_by_role("link", name="7", exact=True).click()
    assert _selected(page) == "nps"
    page.locator(".gjs-toolbar .gjs-toolbar-item").last.click()
    expect(canvas.locator("table[data-survey='nps']")).to_have_count(0)
    assert "/survey/nps/" not in page.evaluate("kairanEditor.getHtml()")
    assert errors == [], errors
    context.close()
