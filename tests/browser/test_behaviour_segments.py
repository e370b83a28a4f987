"""The segment builder's event row in the browser, in Japanese: event name, did / did not, at least N times, in the
last N days, with its live count, saved and shown again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.browser.helpers import ja_context, log_in


def test_an_event_row_counts_buyers_and_is_saved(browser: Any, live_server: str, app: Any, users: dict[str, str],
                                                 screenshots: Path) -> None:
    from automations.models import Event
    from core.db import db
    from lists.models import Subscriber

    now = datetime.now(UTC)
    with app.app_context():
        for i, days in enumerate([[3, 10], [5], [], [60]]):
            subscriber = Subscriber(email=f"u{i}@example.jp", email_key=f"u{i}@example.jp", name=f"U{i}", attribs={})
            db.session.add(subscriber)
            db.session.flush()
            for ago in days:
                db.session.add(Event(subscriber_id=subscriber.id, name="purchase", properties={},
                                     occurred_at=now - timedelta(days=ago)))
        db.session.commit()
    context = ja_context(browser, live_server)
    page = context.new_page()
    log_in(page, "editor")
    page.goto("/subscribers/segments/new")
    page.fill("input[name=name]", "最近の購入者")
    page.click("#add-rule")
    row = page.locator(".rule-row").first
    row.locator("select.field").select_option(label="イベント")
    assert row.locator("select.op option").all_inner_texts() == ["した", "していない"]
    assert row.locator("input.value").is_hidden() and row.locator("input.key").is_hidden()
    row.locator("input.event-name").fill("purchase")
    count = "() => document.getElementById('segment-count').textContent"
    page.wait_for_function(f"{count} === '3'")  # ever
    row.locator("input.days").fill("30")
    page.wait_for_function(f"{count} === '2'")
    row.locator("input.min-count").fill("2")
    page.wait_for_function(f"{count} === '1'")
    # what the two numbers mean stays on screen once they are filled in
    assert " ".join(row.locator(".event-part").all_inner_texts()).split() == ["回以上", "過去", "日間"]
    row.locator("select.op").select_option(label="していない")
    page.wait_for_function(f"{count} === '3'")  # fewer than twice in 30 days: U1, U2, U3
    row.locator("input.event-name").fill("Purchase")
    page.wait_for_function(f"{count}.startsWith('イベント名は')")  # the server's reason, in Japanese
    row.locator("input.event-name").fill("purchase")
    page.wait_for_function(f"{count} === '3'")
    page.screenshot(path=str(screenshots / "segment-event-row-ja.png"), full_page=True)
    page.click("button[type=submit].primary")
    assert "保存しました" in page.inner_text(".flash")
    with app.app_context():
        from lists.segments import all_segments

        [segment] = all_segments()
        assert segment.rules == {"match": "all", "rules": [
            {"field": "event", "op": "did_not", "value": {"name": "purchase", "min_count": 2, "within_days": 30}}]}
    page.goto(f"/subscribers/segments/{segment.id}")
    again = page.locator(".rule-row").first
    assert again.locator("input.event-name").input_value() == "purchase"
    assert (again.locator("input.min-count").input_value(), again.locator("input.days").input_value()) == ("2", "30")
    assert again.locator("select.op").input_value() == "did_not"
    context.close()
