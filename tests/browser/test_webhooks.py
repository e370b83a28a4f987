"""Settings → Webhook in a Japanese browser: a bad URL refused in Japanese, an endpoint added for a real receiver,
its secret shown, a test event sent by a real RQ job, its log, and a replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.browser.helpers import log_in, screenshot
from tests.helpers import run_jobs
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on loopback: the shop's endpoint."""
    started = Receiver().start()
    yield started
    started.stop()


def test_add_an_endpoint_send_a_test_event_and_replay_it(app: Flask, page_ja: Any, users: dict[str, str],
                                                         receiver: Receiver, screenshots: Path) -> None:
    log_in(page_ja, "admin")
    page_ja.goto("/settings")
    page_ja.get_by_role("link", name="Webhook").click()
    expect(page_ja.get_by_text("Webhook エンドポイントはまだありません。")).to_be_visible()
    page_ja.get_by_role("link", name="エンドポイントを追加").click()
    page_ja.get_by_label("URL").fill("ftp://shop.example.jp/hooks")
    page_ja.get_by_label("購読者の登録").check()
    page_ja.get_by_label("リンクのクリック").check()
    page_ja.get_by_role("button", name="エンドポイントを追加").click()
    expect(page_ja.locator(".has-error .error")).to_have_text("URL は http:// または https:// で始めてください。")
    expect(page_ja.get_by_label("リンクのクリック")).to_be_checked()  # what was ticked stays ticked
    page_ja.screenshot(path=str(screenshots / "webhooks-01-bad-url.png"), full_page=True)

    page_ja.get_by_label("URL").fill(receiver.url)
    page_ja.get_by_role("button", name="エンドポイントを追加").click()
    expect(page_ja.locator(".flash-success")).to_contain_text("エンドポイントを追加しました。")
    secret = page_ja.locator("[data-secret]").inner_text()
    assert secret.startswith("whsec_")
    receiver.secret = secret
    page_ja.get_by_role("link", name="署名シークレットを隠す").click()
    expect(page_ja.locator("[data-secret]")).to_have_count(0)

    page_ja.get_by_role("button", name="テストイベントを送信").click()
    expect(page_ja.locator(".flash-success")).to_contain_text("テストイベントを送信しています。")
    run_jobs(app)  # the delivery job, as a worker runs it
    assert [e["type"] for e in receiver.events()] == ["webhook.test"]
    page_ja.reload()
    row = page_ja.locator("tr[data-attempt]").first
    expect(row.locator("[data-status]")).to_have_text("HTTP 200")
    expect(row).to_contain_text("webhook.test")
    page_ja.get_by_text("リクエストとレスポンス").first.click()
    expect(page_ja.get_by_text("webhook-signature: v1,")).to_be_visible()
    page_ja.screenshot(path=str(screenshots / "webhooks-02-log.png"), full_page=True)

    row.get_by_role("button", name="再送").click()
    expect(page_ja.locator(".flash-success")).to_have_text("1 件のメッセージを再送の列に入れました。")
    run_jobs(app)
    page_ja.reload()
    expect(page_ja.locator("tr[data-attempt]")).to_have_count(2)
    first, again = (r.msg_id for r in receiver.received)
    assert first == again  # the same webhook-id
    page_ja.goto("/settings/webhooks/")
    expect(page_ja.locator("tr[data-endpoint] [data-state]")).to_have_text("稼働中")
    page_ja.screenshot(path=str(screenshots / "webhooks-03-list.png"), full_page=True)


def test_a_refused_endpoint_says_every_problem_at_the_top_where_the_focus_goes(
        app: Flask, page_ja: Any, users: dict[str, str], screenshots: Path) -> None:
    log_in(page_ja, "admin")
    page_ja.goto("/settings/webhooks/new")
    page_ja.get_by_label("URL").fill("https://shop.example.jp/hooks")
    page_ja.get_by_label("説明").fill("説明" * 101)  # too long, and no event ticked: both said at once
    with page_ja.expect_response(lambda r: r.request.method == "POST") as answer:
        page_ja.get_by_role("button", name="エンドポイントを追加").click()
    assert answer.value.status == 400
    summary = page_ja.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.locator("h2")).to_have_text("エンドポイントは保存されていません")
    expect(summary.get_by_role("link")).to_have_text(["説明は 200 文字以内で入力してください。",  # names its field
                                                      "送信するイベント：イベントの種類を一つ以上選んでください。"])
    box = summary.bounding_box()
    assert box is not None and box["y"] + box["height"] < 800  # in the first screenful
    expect(page_ja.locator(".has-error .error")).to_have_count(2)  # and each under its field
    screenshot(page_ja, screenshots / "webhooks-04-refused.png")
    summary.get_by_role("link", name="送信するイベント：イベントの種類を一つ以上選んでください。").click()
    expect(page_ja.get_by_label("購読者の登録")).to_be_focused()  # the first event's box, to tick it
    page_ja.keyboard.press("Space")
    page_ja.get_by_label("説明").fill("在庫システム")
    page_ja.get_by_role("button", name="エンドポイントを追加").click()
    expect(page_ja.locator(".flash-success")).to_contain_text("エンドポイントを追加しました。")
