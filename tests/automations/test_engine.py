"""The engine's rules, in process: definitions refused with the step named, entry and exit rules, quiet hours, split,
update and notify, a claim that lapses, scheduled triggers, retention. Time is moved by the one clock; the engine
is woken by calling it, as a worker's periodic job does."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from automations import engine, lifecycle, retention, triggers
from automations.errors import DefinitionError
from automations.graph import check
from automations.models import Automation, Run, RunState, RunStep
from automations.timing import wait_ends
from core import clock
from core.db import db
from core.queues import queue, redis
from core.signals import runs_ended
from lists.models import Subscriber
from lists.subscribers import subscribers_for_addresses
from mailer.models import Campaign, Delivery
from tests.helpers import api_user, run_jobs

TOKYO = ZoneInfo("Asia/Tokyo")


def definition(steps: dict[str, Any], start: str, **rules: Any) -> dict[str, Any]:
    """An event-triggered (``visit``) definition with these steps."""
    return {"trigger": {"kind": "event", "event": "visit"}, "start": start, "steps": steps, **rules}


def active(app: Flask, draft: dict[str, Any], *, message: bool = False) -> int:
    """An active automation with this draft (a send step's campaign_id "MESSAGE" becomes a real message)."""
    with app.app_context():
        automation = lifecycle.create_automation("テスト")
        if message:
            campaign = lifecycle.new_message(automation, "お知らせ", "お知らせ",
                                             body="<p>{{ subscriber.name }}様</p>")
            for step in draft["steps"].values():
                if step.get("campaign_id") == "MESSAGE":
                    step["campaign_id"] = campaign.id
        lifecycle.update_automation(automation, draft=draft)
        lifecycle.activate(automation)
        return automation.id


@pytest.fixture
def api(moving: Flask) -> FlaskClient:
    client = moving.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(moving, 'admin', 'shop')}"
    return client


def post(api: FlaskClient, email: str, name: str = "visit", **properties: Any) -> None:
    answer = api.post("/api/events", json={"email": email, "create_subscriber": True, "name": name,
                                           "properties": properties})
    assert answer.status_code == 200, answer.get_json()


def wake(app: Flask) -> int:
    """What a worker's job does when events are stored (and periodically): act on new events, move due runs on."""
    with app.app_context():
        return triggers.react()


def look(app: Flask) -> None:
    """Act on the events stored, without moving any run on."""
    with app.app_context():
        triggers.catch_up()


def runs(app: Flask) -> list[tuple[str, RunState, str, str | None]]:
    """Every run: (email, state, step, reason), by id."""
    with app.app_context():
        return [tuple(row) for row in db.session.execute(  # type: ignore[misc]
            select(Subscriber.email, Run.state, Run.step, Run.reason)
            .join(Subscriber, Subscriber.id == Run.subscriber_id).order_by(Run.id))]


def test_activation_refuses_what_cannot_run_naming_the_step(app: Flask) -> None:
    wait = {"type": "wait", "mode": "duration", "days": 1, "next": None}
    cases = {
        "lost": definition({"a": wait, "lost": {"type": "exit"}}, "a"),  # no path reaches it
        "b": definition({"a": {"type": "split", "branches": [{"percent": 50, "next": "b"}, {"percent": 50,
                                                                                            "next": None}]},
                         "b": {"type": "update", "attributes": {"x": 1}, "next": "a"}}, "a"),  # a loop, no wait
        "mail": definition({"mail": {"type": "send", "campaign_id": 999, "next": None}}, "mail"),  # no message
        "check": definition({"check": {"type": "condition", "rule": {"field": "nonsense"}, "yes": None,
                                       "no": None}}, "check"),
        "trigger": {**definition({"a": wait}, "a"), "trigger": {"kind": "event", "event": "Not A Name"}},
    }
    with app.app_context():
        for step, draft in cases.items():
            with pytest.raises(DefinitionError) as refused:
                check(draft, lambda _campaign_id: False)
            assert refused.value.step in (step, *(("a",) if step == "b" else ())), (step, refused.value.message)
        # Badly typed parts are refused as such, never a TypeError.
        for bad in (definition({"a": wait | {"next": ["b"]}}, "a"), definition({"a": wait}, ["a"]),  # type: ignore[arg-type]
                    definition({"a": {"type": "split", "branches": "50/50"}}, "a"),
                    definition({"a": {"type": "update", "add_lists": "1", "next": None}}, "a")):
            with pytest.raises(DefinitionError):
                check(bad, lambda _campaign_id: False)
        # A loop through a wait is a fine journey (a monthly reminder until they buy).
        check(definition({"a": wait | {"next": "b"}, "b": {"type": "update", "attributes": {"x": 1}, "next": "a"}},
                         "a"), lambda _campaign_id: False)


def test_entry_once_every_time_by_order_and_again_after_days(moving: Flask, api: FlaskClient) -> None:
    wait = {"a": {"type": "wait", "mode": "duration", "days": 1, "next": None}}
    active(moving, definition(wait, "a"))  # once (the default)
    active(moving, definition(wait, "a", entry={"mode": "every_time", "dedupe_property": "order_id"}))
    active(moving, definition(wait, "a", entry={"mode": "again_after", "days": 7}))
    post(api, "taro@example.jp", order_id="A-1")
    post(api, "taro@example.jp", order_id="A-1")  # the same order again
    post(api, "taro@example.jp", order_id="A-2")
    look(moving)
    with moving.app_context():
        per_automation = Counter(db.session.scalars(select(Run.automation_id)))
    assert sorted(per_automation.values()) == [1, 1, 2]
    clock.move(moving.config["KAIRAN"].redis_url, timedelta(days=8))
    post(api, "taro@example.jp", order_id="A-3")
    look(moving)
    with moving.app_context():
        per_automation = Counter(db.session.scalars(select(Run.automation_id)))
    assert sorted(per_automation.values()) == [1, 2, 3]  # once: still 1; again after 7 days: 2; every order: 3


def test_an_exit_event_ends_the_run_and_a_waited_event_wakes_it_at_once(moving: Flask, api: FlaskClient) -> None:
    steps = {"wait": {"type": "wait_event", "event": "purchase", "days": 30, "next": "done", "timeout": None},
             "done": {"type": "goal"}}
    automation_id = active(moving, definition(steps, "wait", exit={"events": [{"event": "refund"}]}))
    ended: list[dict[str, Any]] = []

    def heard(_sender: Any, runs: list[dict[str, Any]]) -> None:  # what webhooks send as automation.exited, …
        ended.extend(runs)

    runs_ended.connect(heard)
    post(api, "hanako@example.jp")
    post(api, "jiro@example.jp")
    post(api, "taro@example.jp")
    wake(moving)
    post(api, "hanako@example.jp", "refund")
    post(api, "jiro@example.jp", "purchase")
    wake(moving)  # the purchase made Jiro's run due now: no waiting for the timeout
    assert runs(moving)[:2] == [("hanako@example.jp", RunState.EXITED, "wait", "exit event"),
                                ("jiro@example.jp", RunState.CONVERTED, "done", None)]
    with moving.app_context():  # archived: Taro's waiting run exits too
        lifecycle.archive(db.session.get_one(Automation, automation_id))
    runs_ended.disconnect(heard)
    # Every run that ended is announced once, however it ended: the engine's batch or a bulk exit
    assert sorted((run["state"], run["reason"]) for run in ended) == [
        ("converted", None), ("exited", "automation archived"), ("exited", "exit event")]


def test_a_carrier_address_waits_out_the_quiet_hours_others_are_sent_at_once(moving: Flask,
                                                                              api: FlaskClient) -> None:
    redis_url = moving.config["KAIRAN"].redis_url
    tonight = datetime.now(TOKYO).replace(hour=23, minute=0, second=0, microsecond=0)
    with moving.app_context():
        clock.move(redis_url, tonight.astimezone(UTC) + timedelta(days=1) - clock.now())  # 23:00 in Tokyo
    active(moving, definition({"mail": {"type": "send", "campaign_id": "MESSAGE", "next": None}}, "mail"),
           message=True)
    post(api, "hanako@docomo.ne.jp")
    post(api, "taro@example.jp")
    wake(moving)
    with moving.app_context():
        waiting = db.session.execute(select(Run.step, Run.next_wake_at).where(Run.state == RunState.WAITING)).all()
        mailed = db.session.scalars(select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id))
        assert list(mailed) == ["taro@example.jp"]
    assert len(waiting) == 1 and waiting[0][0] == "mail"
    opens = waiting[0][1]
    assert opens is not None and opens.astimezone(TOKYO).hour == 8  # the window opens at 08:00
    clock.move(redis_url, timedelta(hours=9, minutes=1))
    wake(moving)
    assert {(email, state) for email, state, _step, _reason in runs(moving)} == {
        ("hanako@docomo.ne.jp", RunState.COMPLETED), ("taro@example.jp", RunState.COMPLETED)}


def test_a_send_steps_window_holds_every_address_until_it_opens(moving: Flask, api: FlaskClient) -> None:
    redis_url = moving.config["KAIRAN"].redis_url
    evening = datetime.now(TOKYO).replace(hour=21, minute=0, second=0, microsecond=0)
    with moving.app_context():
        clock.move(redis_url, evening.astimezone(UTC) + timedelta(days=1) - clock.now())  # 21:00 in Tokyo
    mail = {"type": "send", "campaign_id": "MESSAGE", "next": None, "window": {"start": "09:00", "end": "20:00"}}
    active(moving, definition({"mail": mail}, "mail", quiet_hours=None), message=True)
    post(api, "taro@example.jp")
    wake(moving)
    with moving.app_context():
        waiting = db.session.execute(select(Run.step, Run.next_wake_at).where(Run.state == RunState.WAITING)).all()
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
    assert len(waiting) == 1 and waiting[0][0] == "mail"
    opens = waiting[0][1]
    assert opens is not None and opens.astimezone(TOKYO).hour == 9  # the window opens at 09:00
    clock.move(redis_url, timedelta(hours=12, minutes=1))
    wake(moving)
    assert [(email, state) for email, state, _step, _reason in runs(moving)] == [("taro@example.jp",
                                                                                 RunState.COMPLETED)]
    with moving.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 1


def test_a_send_steps_window_is_refused_when_it_cannot_be_kept(app: Flask) -> None:
    refusals = {  # what each bad window gets
        "no end": ({"start": "09:00"}, "A time of day is HH:MM"),
        "25:00": ({"start": "25:00", "end": "20:00"}, "A time of day is HH:MM"),
        "end = start": ({"start": "09:00", "end": "09:00"}, "a sending window cannot end when it starts (09:00)"),
        "not an object": ("9-20", "A sending window is"),
    }
    with app.app_context():
        for case, (window, message) in refusals.items():
            draft = definition({"mail": {"type": "send", "campaign_id": 1, "next": None, "window": window}}, "mail")
            with pytest.raises(DefinitionError) as refused:
                check(draft, lambda _campaign_id: True)
            assert refused.value.step == "mail" and message in refused.value.message, (case, refused.value.message)


def test_a_split_sends_each_run_one_way_by_its_share_and_never_changes_it(moving: Flask, api: FlaskClient) -> None:
    steps = {"split": {"type": "split", "branches": [{"percent": 30, "next": "a"}, {"percent": 70, "next": "b"}]},
             "a": {"type": "wait", "mode": "duration", "days": 1, "next": None},
             "b": {"type": "wait", "mode": "duration", "days": 1, "next": None}}
    automation_id = active(moving, definition(steps, "split"))
    with moving.app_context():
        ids = list(subscribers_for_addresses({f"r{n}@example.jp" for n in range(400)}, create=True).values())
        db.session.commit()
        triggers.enrol(lifecycle.get_automation(automation_id), ids)
    wake(moving)
    ways = Counter(step for _email, _state, step, _reason in runs(moving))
    assert ways["a"] + ways["b"] == 400
    assert 80 <= ways["a"] <= 160, ways  # 30 % of 400 is 120
    with moving.app_context():
        db.session.execute(update(Run).values(next_wake_at=clock.now()))  # woken again early: stays
        db.session.commit()
    wake(moving)
    assert Counter(step for _email, _state, step, _reason in runs(moving)) == ways


def test_update_sets_attributes_and_lists_and_notify_mails_the_team(moving: Flask, api: FlaskClient) -> None:
    list_id = api.post("/api/lists", json={"name": "VIP"}).get_json()["data"]["id"]
    steps = {"tag": {"type": "update", "attributes": {"vip": True}, "add_lists": [list_id], "next": "tell"},
             "tell": {"type": "notify", "to": "sales@kairan.example", "subject": "VIP になりました", "body": "連絡を",
                      "next": None}}
    active(moving, definition(steps, "tag"))
    post(api, "hanako@example.jp")
    wake(moving)
    hanako = api.get("/api/subscribers", query_string={"query": "subscribers.email = 'hanako@example.jp'"}
                     ).get_json()["data"]["results"][0]
    assert hanako["attribs"]["vip"] is True
    assert [entry["id"] for entry in hanako["lists"]] == [list_id]
    with moving.app_context():
        from core.queues import queue
        from mailer.queues import TX_QUEUE

        letters = [job.args[0] for job in queue(TX_QUEUE).get_jobs()]
    assert [(letter.to, letter.subject) for letter in letters] == [("sales@kairan.example", "VIP になりました")]
    assert "hanako@example.jp" in letters[0].subscriber


def test_a_batch_claimed_by_a_worker_that_died_is_moved_on_once_after_its_claim_lapses(
        moving: Flask, api: FlaskClient) -> None:
    active(moving, definition({"mail": {"type": "send", "campaign_id": "MESSAGE", "next": None}}, "mail"),
           message=True)
    with moving.app_context():
        assert triggers.catch_up() == 0  # nothing new: nothing done
    for n in range(5):
        post(api, f"r{n}@example.jp")
    look(moving)
    with moving.app_context():
        assert len(engine.claim(100)) == 5  # …and the worker dies before it writes anything
        assert engine.wake() == 0  # claimed: nobody else takes them meanwhile
    clock.move(moving.config["KAIRAN"].redis_url, timedelta(seconds=engine.CLAIM_SECONDS + 1))
    wake(moving)
    wake(moving)
    with moving.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 5  # each run's message once
    assert {state for _e, state, _s, _r in runs(moving)} == {RunState.COMPLETED}


def test_an_unsubscribed_reader_is_not_mailed_and_their_run_exits(moving: Flask, api: FlaskClient) -> None:
    list_id = api.post("/api/lists", json={"name": "ニュース"}).get_json()["data"]["id"]
    api.post("/api/subscribers", json={"email": "left@example.jp", "name": "left", "lists": [list_id],
                                       "preconfirm_subscriptions": True})
    subscriber_id = api.get("/api/subscribers").get_json()["data"]["results"][0]["id"]
    api.put("/api/subscribers/lists", json={"ids": [subscriber_id], "action": "unsubscribe",
                                            "target_list_ids": [list_id]})
    active(moving, definition({"mail": {"type": "send", "campaign_id": "MESSAGE", "next": None}}, "mail"),
           message=True)
    post(api, "left@example.jp")
    post(api, "customer@example.jp")  # on no list and never unsubscribed: the shop's customer
    wake(moving)
    assert runs(moving) == [("left@example.jp", RunState.EXITED, "mail", "unsubscribed"),
                            ("customer@example.jp", RunState.COMPLETED, "mail", None)]


def test_a_subscribed_trigger_starts_runs_for_new_confirmed_subscriptions_only(moving: Flask,
                                                                               api: FlaskClient) -> None:
    list_id = api.post("/api/lists", json={"name": "ニュース"}).get_json()["data"]["id"]
    api.post("/api/subscribers", json={"email": "before@example.jp", "name": "b", "lists": [list_id],
                                       "preconfirm_subscriptions": True})
    draft = {"trigger": {"kind": "subscribed", "list_id": list_id}, "start": "a",
             "steps": {"a": {"type": "wait", "mode": "duration", "days": 3, "next": None}}}
    automation_id = active(moving, draft)
    with moving.app_context():
        triggers.scan()  # the first look only marks where it starts
    api.post("/api/subscribers", json={"email": "after@example.jp", "name": "a", "lists": [list_id],
                                       "preconfirm_subscriptions": True})
    with moving.app_context():
        assert triggers.scan() == 1
        assert triggers.scan() == 0
        assert lifecycle.get_automation(automation_id).consent_cursor > 0
    wake(moving)
    assert runs(moving) == [("after@example.jp", RunState.WAITING, "a", None)]


def test_history_and_ended_runs_are_forgotten_after_the_retention_but_waiting_runs_stay(
        moving: Flask, api: FlaskClient) -> None:
    steps = {"a": {"type": "wait", "mode": "duration", "days": 400, "next": None}}
    active(moving, definition(steps, "a"))
    active(moving, definition({"b": {"type": "exit"}}, "b"))
    post(api, "taro@example.jp")
    wake(moving)
    clock.move(moving.config["KAIRAN"].redis_url, timedelta(days=181))
    with moving.app_context():
        assert retention.sweep() == 2  # the exit step's history row and its ended run
        assert db.session.scalar(select(func.count()).select_from(RunStep)) == 0
    assert [(state, step) for _e, state, step, _r in runs(moving)] == [(RunState.WAITING, "a")]


@pytest.mark.parametrize(("step", "expected"), [
    ({"mode": "duration", "days": 2}, "2026-12-03 10:30"),
    ({"mode": "duration", "hours": 1, "at": "09:00"}, "2026-12-02 09:00"),  # the first 09:00 after the hour
    ({"mode": "since_entry", "days": 3, "at": "10:00"}, "2026-12-03 10:00"),  # 登録から3日後 10:00
    ({"mode": "since_last_mail", "days": 1, "at": "18:00"}, "2026-12-02 18:00"),  # 前のメールから1日後 18:00
    ({"mode": "weekday", "weekday": 0, "at": "09:00"}, "2026-12-07 09:00"),  # the next Monday
    ({"mode": "attribute", "attribute": "contract_end", "offset_days": -7, "at": "09:00"}, "2026-12-24 09:00"),
])
def test_waits_end_at_their_local_times(step: dict[str, Any], expected: str) -> None:
    arrived = datetime(2026, 12, 1, 10, 30, tzinfo=TOKYO)  # a Tuesday
    ends = wait_ends(step, arrived.astimezone(UTC), entered=datetime(2026, 11, 30, 22, tzinfo=TOKYO),
                     last_mail=datetime(2026, 12, 1, 8, tzinfo=TOKYO), attributes={"contract_end": "2026-12-31"},
                     timezone="Asia/Tokyo")
    assert ends.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M") == expected


def test_a_list_or_segment_a_live_automation_uses_cannot_be_deleted(moving: Flask, api: FlaskClient) -> None:
    list_id = api.post("/api/lists", json={"name": "VIP"}).get_json()["data"]["id"]
    segment_id = api.post("/api/segments", json={"name": "常連", "expression": 'did("purchase", at_least=3)'}
                          ).get_json()["data"]["id"]
    steps = {"tag": {"type": "update", "add_lists": [list_id], "next": None}}
    automation_id = active(moving, {"trigger": {"kind": "segment", "segment_id": segment_id}, "start": "tag",
                                    "steps": steps})
    for path in (f"/api/lists/{list_id}", f"/api/segments/{segment_id}"):
        refused = api.delete(path)
        assert refused.status_code == 409, refused.get_json()
        assert "“テスト”" in refused.get_json()["message"]  # the automation, named
    with moving.app_context():
        lifecycle.archive(lifecycle.get_automation(automation_id))
    assert api.delete(f"/api/lists/{list_id}").status_code == 200  # archived: no longer held


def test_a_message_that_cannot_be_rendered_for_one_reader_fails_their_run_only(moving: Flask, api: FlaskClient,
                                                                              capture: Any) -> None:
    active(moving, definition({"mail": {"type": "send", "campaign_id": "MESSAGE", "next": "later"},
                               "later": {"type": "wait", "mode": "duration", "days": 1, "next": None}}, "mail"),
           message=True)
    with moving.app_context():
        campaign = db.session.scalars(select(Campaign)).one()
        # Dividing by a reader's attribute: zero for one of them.
        campaign.body = "<p>{{ 100 // subscriber.attribs.share }} 円</p>"
        db.session.commit()
    for email, share in (("ok@example.jp", 4), ("zero@example.jp", 0)):
        api.post("/api/subscribers", json={"email": email, "name": email, "attribs": {"share": share}})
        post(api, email)
    wake(moving)
    run_jobs(moving)
    (ok, zero) = runs(moving)
    assert ok == ("ok@example.jp", RunState.WAITING, "later", None)
    assert zero[:3] == ("zero@example.jp", RunState.FAILED, "later")
    assert zero[3] == "The template cannot be rendered: integer division or modulo by zero"
    assert capture.count() == 1


def test_an_edit_makes_a_new_version_runs_stay_on_theirs_until_moved_where_the_preview_said(
        moving: Flask, api: FlaskClient) -> None:
    first = definition({"a": {"type": "wait", "mode": "duration", "days": 1, "next": "b"},
                        "b": {"type": "wait", "mode": "duration", "days": 1, "next": None}}, "a")
    automation_id = active(moving, first)
    post(api, "taro@example.jp")
    post(api, "hanako@example.jp")
    wake(moving)
    with moving.app_context():
        db.session.execute(update(Run).where(Run.subscriber_id == select(Subscriber.id).where(
            Subscriber.email == "hanako@example.jp").scalar_subquery()).values(step="b"))
        db.session.commit()
        automation = lifecycle.get_automation(automation_id)
        second = definition({"a": {"type": "wait", "mode": "duration", "days": 3, "next": "c"},
                             "c": {"type": "exit"}}, "a")
        lifecycle.update_automation(automation, draft=second)
        assert lifecycle.move_preview(automation) == []  # not active yet: the draft is only a draft
        version = lifecycle.activate(automation)
        assert version.number == 2
        preview = lifecycle.move_preview(automation)
        assert [(row["version"], row["step"], row["runs"], row["lands"]) for row in preview] == [
            (1, "a", 1, "a"), (1, "b", 1, None)]  # "b" is gone from version 2: that run stays on version 1
        assert lifecycle.move_runs(automation) == 1
        on = dict(db.session.execute(select(Run.step, Run.version_id)).all())
        assert on == {"a": version.id, "b": on["b"]} and on["b"] != version.id


def test_date_triggers_start_runs_when_the_day_and_time_come(moving: Flask, api: FlaskClient) -> None:
    redis_url = moving.config["KAIRAN"].redis_url
    with moving.app_context():
        morning = (clock.now().astimezone(TOKYO) + timedelta(days=1)).replace(hour=8, minute=59, second=0,
                                                                              microsecond=0)
        clock.move(redis_url, morning - clock.now())
    day = morning.date()
    people = {"born@example.jp": {"birthday": f"1990-{day:%m-%d}"},
              "other@example.jp": {"birthday": "1990-01-01" if day.month != 1 else "1990-06-01"},
              "ending@example.jp": {"contract_end": f"{day + timedelta(days=7):%Y-%m-%d}"},
              "later@example.jp": {"contract_end": f"{day + timedelta(days=8):%Y-%m-%d}"}}
    for email, attribs in people.items():
        api.post("/api/subscribers", json={"email": email, "name": email, "attribs": attribs})
    wait = {"a": {"type": "wait", "mode": "duration", "days": 1, "next": None}}
    active(moving, {"trigger": {"kind": "date", "attribute": "birthday", "yearly": True, "at": "09:00"},
                    "start": "a", "steps": wait})
    active(moving, {"trigger": {"kind": "date", "attribute": "contract_end", "offset_days": -7, "at": "09:00"},
                    "start": "a", "steps": wait})
    with moving.app_context():
        assert triggers.scan() == 0  # 08:59: not yet
    clock.move(redis_url, timedelta(minutes=2))
    with moving.app_context():
        assert triggers.scan() == 2
        assert triggers.scan() == 0  # each day once
    assert sorted(email for email, *_rest in runs(moving)) == ["born@example.jp", "ending@example.jp"]


def test_a_campaign_trigger_starts_runs_for_its_readers_who_clicked(moving: Flask, api: FlaskClient) -> None:
    with moving.app_context():
        campaign = Campaign(name="11月号", subject="11月号", lists=[], body="x")
        db.session.add(campaign)
        db.session.commit()
        ids = subscribers_for_addresses({"clicked@example.jp", "idle@example.jp"}, create=True)
        for subscriber_id in ids.values():
            db.session.add(Delivery(campaign_id=campaign.id, subscriber_id=subscriber_id, domain="example.jp",
                                    sent_at=clock.now()))
        db.session.commit()
        campaign_id = campaign.id
    automation_id = active(moving, {"trigger": {"kind": "campaign", "campaign_id": campaign_id,
                                                "action": "clicked"}, "start": "a",
                                    "steps": {"a": {"type": "wait", "mode": "duration", "days": 1, "next": None}}})
    clock.move(moving.config["KAIRAN"].redis_url, timedelta(minutes=1))
    with moving.app_context():
        db.session.execute(update(Delivery).where(Delivery.subscriber_id == ids["clicked@example.jp"])
                           .values(first_click_at=clock.now(), first_open_at=clock.now()))
        db.session.commit()
        assert lifecycle.get_automation(automation_id).scanned_at is not None
    clock.move(moving.config["KAIRAN"].redis_url, timedelta(minutes=1))
    with moving.app_context():
        assert triggers.scan() == 1
    assert [email for email, *_rest in runs(moving)] == ["clicked@example.jp"]


def test_events_whose_job_redis_lost_are_acted_on_by_the_next_look_and_never_twice(
        moving: Flask, api: FlaskClient) -> None:
    automation_id = active(moving, definition({"a": {"type": "wait", "mode": "duration", "days": 1, "next": None}},
                                              "a", entry={"mode": "again_after", "days": 30}))
    post(api, "taro@example.jp")
    with moving.app_context():
        from core.queues import queue, redis

        assert queue().count == 1  # the job that acts on it…
        redis().flushall()  # …lost with everything else in Redis
        assert triggers.react() == 1  # the periodic look: it starts Taro's run, and moves it on
        assert triggers.react() == 0  # the event is looked at again (not yet settled): nothing twice
    clock.move(moving.config["KAIRAN"].redis_url, timedelta(seconds=6))
    with moving.app_context():
        assert triggers.react() == 0
        assert lifecycle.get_automation(automation_id).event_cursor > 0  # settled: not looked at again
    assert [email for email, *_rest in runs(moving)] == ["taro@example.jp"]


def test_a_host_queues_no_reaction_while_none_listens_and_one_as_soon_as_another_host_activates_one(
        moving: Flask, app: Flask) -> None:
    there = app.test_client()  # another host: the same database and Redis, its own memory
    there.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'crm')}"

    def reactions() -> int:
        with app.app_context():
            return sum(job.func_name == "automations.triggers.react" for job in queue().get_jobs())

    post(there, "hanako@example.jp")
    with app.app_context():
        redis().delete(triggers.REACT_QUEUED)  # as if the last "none listens" had expired: only the view holds back
    post(there, "hanako@example.jp")
    assert reactions() == 0
    active(moving, definition({"done": {"type": "goal"}}, "done"))
    post(there, "jiro@example.jp")
    assert reactions() == 1
    wake(moving)
    assert [(email, state) for email, state, _step, _reason in runs(moving)] == [
        ("jiro@example.jp", RunState.CONVERTED)]
