"""POST and GET /api/events on a real database: single events and batches, bad input by index, idempotency,
create_subscriber, filters and paging, the timeline, and deleting a subscriber."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from app import create_app
from automations import events as events_module
from automations.models import Event
from core.db import db
from core.models import User
from core.users import rotate_token, update_user
from lists.models import Subscriber
from tests.automations.helpers import add_subscriber
from tests.helpers import api_user, basic, login
from tests.resources import free_port, libpq

PRINTER = {"product": "プリンター PX-1", "price": 39800}


def stored_events(app: Flask) -> list[Event]:
    with app.app_context():
        events = list(db.session.scalars(select(Event).order_by(Event.id)))
        db.session.expunge_all()
        return events


def test_one_event_is_stored_with_its_properties_and_time(app: Flask, shop: FlaskClient) -> None:
    taro = add_subscriber(shop, "taro@example.jp")
    response = shop.post("/api/events", json={"subscriber_id": taro["id"], "name": "purchase", "properties": PRINTER,
                                              "occurred_at": "2026-05-01T09:30:00+09:00"})
    assert response.status_code == 200
    assert response.get_json() == {"data": {"stored": [0], "duplicates": [], "errors": [], "warnings": []}}
    [event] = stored_events(app)
    assert (event.subscriber_id, event.name, event.properties) == (taro["id"], "purchase", PRINTER)
    assert event.occurred_at == datetime(2026, 5, 1, 0, 30, tzinfo=UTC)
    assert event.source.value == "api" and event.idempotency_key is None
    assert abs(event.received_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_occurred_at_defaults_to_now_and_properties_to_nothing(app: Flask, shop: FlaskClient) -> None:
    taro = add_subscriber(shop, "taro@example.jp")
    assert shop.post("/api/events", json={"subscriber_uuid": taro["uuid"], "name": "login"}).status_code == 200
    [event] = stored_events(app)
    assert event.properties == {} and event.occurred_at == event.received_at


def test_a_batch_names_each_bad_event_by_index_and_stores_the_good_ones(app: Flask, shop: FlaskClient) -> None:
    taro = add_subscriber(shop, "taro@example.jp")
    ahead = (datetime.now(UTC) + timedelta(days=1, minutes=5)).isoformat()
    events = [
        {"email": "ＴＡＲＯ＠example.jp", "name": "purchase", "properties": PRINTER},  # 0: good (full-width address)
        {"subscriber_id": 999999, "name": "purchase"},  # 1: nobody has this id
        {"email": "nobody@example.jp", "name": "purchase"},  # 2: nobody has this address
        {"subscriber_id": taro["id"], "name": "Purchase"},  # 3: capitals
        {"subscriber_id": taro["id"], "name": "x" * 65},  # 4: too long
        {"subscriber_id": taro["id"], "name": "購入"},  # 5: not ASCII
        {"subscriber_id": taro["id"], "name": "big", "properties": {"text": "あ" * 6000}},  # 6: 18 KB as JSON
        {"subscriber_id": taro["id"], "name": "later", "occurred_at": ahead},  # 7: more than a day ahead
        {"subscriber_id": taro["id"], "name": "naive", "occurred_at": "2026-05-01T09:00:00"},  # 8: no offset
        {"subscriber_id": taro["id"], "name": "list", "properties": ["ink"]},  # 9: not an object
        {"name": "anonymous"},  # 10: no subscriber
        {"subscriber_id": taro["id"], "email": "taro@example.jp", "name": "twice"},  # 11: two ways
        "purchase",  # 12: not an object
        {"subscriber_id": taro["id"], "name": "cart_abandoned", "occurred_at": "2026-05-01T09:00:00Z"},  # 13: good
        {"subscriber_id": taro["id"], "name": "huge", "properties": {"n": 2**70}},  # 14: past 64 bits
        {"subscriber_id": taro["id"], "name": "k", "idempotency_key": "k" * 201},  # 15: key too long
    ]
    response = shop.post("/api/events", json={"events": events})
    assert response.status_code == 400
    body = response.get_json()
    assert body["data"]["stored"] == [0, 13] and body["data"]["duplicates"] == []
    errors = {error["index"]: (error["field"], error["message"]) for error in body["data"]["errors"]}
    assert sorted(errors) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15]
    unknown = ("subscriber", "No subscriber has this id, uuid or address (with an address, create_subscriber: true "
                             "adds one).")
    assert errors[1] == errors[2] == unknown
    assert errors[3][0] == errors[4][0] == errors[5][0] == "name"
    assert errors[3][1].startswith("name must be 1 to 64 characters of a-z, 0-9")
    assert errors[6] == ("properties", "properties are 18011 bytes as JSON; at most 16384 are kept.")
    assert errors[7] == ("occurred_at", "occurred_at is more than a day ahead of this server's clock.")
    assert errors[8] == ("occurred_at", "occurred_at must be a time with its offset, like 2026-05-01T09:00:00+09:00.")
    assert errors[9] == ("properties", "properties must be a JSON object.")
    assert errors[10][0] == errors[11][0] == "subscriber"
    assert errors[12] == (None, "An event must be a JSON object.")
    assert errors[14] == ("properties", "properties hold a number too large to keep.")
    assert errors[15][0] == "idempotency_key"
    assert body["message"].startswith("1: No subscriber has this id")
    assert [(e.name, e.subscriber_id) for e in stored_events(app)] == [("purchase", taro["id"]),
                                                                       ("cart_abandoned", taro["id"])]


def test_one_bad_event_is_a_400_with_its_reason(app: Flask, shop: FlaskClient) -> None:
    taro = add_subscriber(shop, "taro@example.jp")
    response = shop.post("/api/events", json={"subscriber_id": taro["id"], "name": "Purchase!"})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("name must be 1 to 64 characters")
    assert response.get_json()["data"]["stored"] == [] and stored_events(app) == []


def test_a_batch_over_1000_is_refused_whole(app: Flask, shop: FlaskClient) -> None:
    taro = add_subscriber(shop, "taro@example.jp")
    response = shop.post("/api/events", json={"events": [{"subscriber_id": taro["id"], "name": "view"}] * 1001})
    assert response.status_code == 400
    assert response.get_json() == {"message": "A batch has at most 1000 events; this one has 1001. Send it in "
                                              "several requests."}
    assert stored_events(app) == []
    full = shop.post("/api/events", json={"events": [{"subscriber_id": taro["id"], "name": "view"}] * 1000})
    assert full.status_code == 200 and len(full.get_json()["data"]["stored"]) == 1000


@pytest.mark.parametrize("body", [{"events": "purchase"}, {"events": {"name": "x"}}])
def test_events_that_are_not_a_list_are_refused(shop: FlaskClient, body: dict[str, Any]) -> None:
    response = shop.post("/api/events", json=body)
    assert response.status_code == 400 and response.get_json() == {"message": "events must be a list of event objects."}


def test_a_repeated_idempotency_key_is_a_duplicate_stored_once(app: Flask, shop: FlaskClient) -> None:
    taro = add_subscriber(shop, "taro@example.jp")
    order = {"subscriber_id": taro["id"], "name": "purchase", "properties": PRINTER, "idempotency_key": "order-1001"}
    other = {**order, "idempotency_key": "order-1002"}
    first = shop.post("/api/events", json={"events": [order, other, order, {**order, "idempotency_key": None}]})
    assert first.get_json() == {"data": {"stored": [0, 1, 3], "duplicates": [2], "errors": [], "warnings": []}}
    again = shop.post("/api/events", json={"events": [other, order]})  # a retry of the whole request
    assert again.status_code == 200
    assert again.get_json()["data"] == {"stored": [], "duplicates": [0, 1], "errors": [], "warnings": []}
    single = shop.post("/api/events", json=order)
    assert single.get_json()["data"] == {"stored": [], "duplicates": [0], "errors": [], "warnings": []}
    assert sorted(str(e.idempotency_key) for e in stored_events(app)) == ["None", "order-1001", "order-1002"]


def test_concurrent_requests_with_the_same_keys_store_each_once(app: Flask) -> None:
    """Two API users post the same keyed batch at once: between them, each key is stored once and one duplicate."""
    setup = app.test_client()
    setup.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'setup')}"
    taro = add_subscriber(setup, "taro@example.jp")
    batch = {"events": [{"subscriber_id": taro["id"], "name": "purchase", "idempotency_key": f"order-{n}"}
                        for n in range(200)]}
    pairs = [api_user(app, "editor", f"shop{n}") for n in range(2)]
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(2)

    def post(pair: str) -> None:
        client = app.test_client()
        start.wait()
        answers.append(client.post("/api/events", json=batch, headers={"Authorization": f"token {pair}"}).get_json())

    threads = [threading.Thread(target=post, args=(pair,)) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = [i for answer in answers for i in answer["data"]["stored"]]
    duplicates = [i for answer in answers for i in answer["data"]["duplicates"]]
    assert sorted(stored) == list(range(200)) and sorted(duplicates) == list(range(200))
    assert len(stored_events(app)) == 200


def test_an_unknown_subscriber_does_not_take_a_key_from_a_good_event(app: Flask, shop: FlaskClient) -> None:
    """The same key in one write (a batch, or requests written together): a refused event does not claim it."""
    taro = add_subscriber(shop, "taro@example.jp")
    response = shop.post("/api/events", json={"events": [
        {"subscriber_id": 999999, "name": "purchase", "idempotency_key": "order-1"},
        {"subscriber_id": taro["id"], "name": "purchase", "idempotency_key": "order-1"}]})
    body = response.get_json()["data"]
    assert (body["stored"], body["duplicates"], [e["index"] for e in body["errors"]]) == ([1], [], [0])
    assert [e.subscriber_id for e in stored_events(app)] == [taro["id"]]


def test_an_event_is_stored_and_answered_while_redis_is_down(app: Flask, settings_env: dict[str, str]) -> None:
    """Telling the workers is after the commit: with Redis unreachable the answer is still 200 (a 500 would make
    the shop send again what was stored), and the periodic wake finds the event once Redis is back."""
    pair = api_user(app, "editor", "shop")
    setup = app.test_client()
    setup.environ_base["HTTP_AUTHORIZATION"] = f"token {pair}"
    taro = add_subscriber(setup, "taro@example.jp")
    cut_off = create_app({**settings_env, "TESTING": True, "KAIRAN_REDIS_URL": f"redis://127.0.0.1:{free_port()}"})
    response = cut_off.test_client().post("/api/events", json={"subscriber_id": taro["id"], "name": "purchase"},
                                          headers={"Authorization": f"token {pair}"})
    assert response.status_code == 200 and response.get_json()["data"]["stored"] == [0]
    assert [e.subscriber_id for e in stored_events(app)] == [taro["id"]]


def test_single_events_posted_at_once_are_each_answered_for_themselves(app: Flask) -> None:
    """Twelve clients post single events at the same moment (the API writes them together, automations/events.py):
    each key is stored once, its second sender is told it is a duplicate, and an unknown subscriber is refused to
    the one who named it."""
    setup = app.test_client()
    setup.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'setup')}"
    taro = add_subscriber(setup, "taro@example.jp")
    pair = api_user(app, "editor", "shop")
    answers: list[tuple[int, int, dict[str, Any]]] = []
    start = threading.Barrier(12)

    def post(thread: int) -> None:
        client = app.test_client()
        start.wait()
        for number in range(10):
            key = (thread // 2) * 10 + number  # two threads send each key
            who = 999999 if (thread, number) == (11, 9) else taro["id"]
            answer = client.post("/api/events", json={"subscriber_id": who, "name": "page_view",
                                                      "idempotency_key": f"view-{key}"},
                                 headers={"Authorization": f"token {pair}"})
            answers.append((thread, number, answer.get_json()))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = {(t, n): ("stored" if a["data"]["stored"] else "duplicate" if a["data"]["duplicates"]
                         else a["data"]["errors"][0]["field"]) for t, n, a in answers}
    assert outcomes[(11, 9)] == "subscriber"  # refused as unknown
    for key in range(60):
        pair_of = sorted(outcomes[(2 * (key // 10) + side, key % 10)] for side in (0, 1))
        assert pair_of in (["duplicate", "stored"], ["stored", "subscriber"])
    assert sorted(str(e.idempotency_key) for e in stored_events(app)) == sorted(f"view-{key}" for key in range(60))


def test_a_plain_event_with_held_credentials_is_stored_before_flask_dispatches(app: Flask) -> None:
    """The busiest write skips Flask's request (automations/event_api.EventsFastPath); every other body goes on to
    Flask and gets its answer there: a conversion event (its revenue warning), an unknown subscriber, a bad name,
    a batch, a query string, credentials this process does not hold."""
    dispatched: list[str] = []
    app.before_request(lambda: dispatched.append(request.path))
    pair = api_user(app, "editor", "shop")
    shop = app.test_client()
    shop.environ_base["HTTP_AUTHORIZATION"] = f"token {pair}"
    taro = add_subscriber(shop, "taro@example.jp")  # through Flask: this process now holds the shop's user
    view = {"subscriber_id": taro["id"], "name": "page_view", "idempotency_key": "view-1"}
    dispatched.clear()
    first, again = shop.post("/api/events", json=view), shop.post("/api/events", json=view)
    assert first.get_json() == {"data": {"stored": [0], "duplicates": [], "errors": [], "warnings": []}}
    assert again.get_json() == {"data": {"stored": [], "duplicates": [0], "errors": [], "warnings": []}}
    assert first.content_type == "application/json" and dispatched == []
    for body, status in (({"subscriber_id": taro["id"], "name": "purchase", "properties": {"amount": "many"}}, 200),
                         ({"subscriber_id": 999999, "name": "page_view"}, 400),
                         ({"subscriber_id": taro["id"], "name": "Page View"}, 400),
                         ({"events": [view]}, 200)):
        dispatched.clear()
        response = shop.post("/api/events", json=body)
        assert (response.status_code, dispatched) == (status, ["/api/events"]), body
    assert response.get_json()["data"]["duplicates"] == [0]  # the batch's one event, stored before
    dispatched.clear()
    assert shop.post("/api/events?x=1", json=view).status_code == 200 and dispatched == ["/api/events"]
    assert shop.post("/api/events", json=view, headers=basic("shop:a-wrong-token")).status_code == 403
    warned = shop.post("/api/events", json={"subscriber_id": taro["id"], "name": "purchase",
                                            "properties": {"amount": "many"}}).get_json()["data"]
    assert warned["stored"] == [0] and warned["warnings"][0]["field"] == "properties.amount"
    assert [e.name for e in stored_events(app)] == ["page_view", "purchase", "purchase"]


def test_a_server_restart_costs_the_fast_path_one_answer_from_flask(app: Flask, database_url: str) -> None:
    """The fast path writes on a connection it holds (core/held_connection.py): when the server drops it, the event
    of that moment is stored through Flask (whose pool pings first), and the next is fast again on a new one."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite file's connection cannot drop")
    dispatched: list[str] = []
    app.before_request(lambda: dispatched.append(request.path))
    pair = api_user(app, "editor", "shop")
    shop = app.test_client()
    shop.environ_base["HTTP_AUTHORIZATION"] = f"token {pair}"
    taro = add_subscriber(shop, "taro@example.jp")

    def post(key: str) -> list[str]:
        dispatched.clear()
        answer = shop.post("/api/events", json={"subscriber_id": taro["id"], "name": "page_view",
                                               "idempotency_key": key})
        assert answer.get_json()["data"]["stored"] == [0], answer.get_json()
        return list(dispatched)

    assert post("view-1") == []
    with libpq(database_url) as server:  # as a restart does: every connection of this database dropped
        pids = [row[0] for row in server.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                                 " AND pid <> pg_backend_pid()")]
        assert pids and all(server.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone() == (True,)
                            for pid in pids)
    assert post("view-2") == ["/api/events"]
    assert post("view-3") == []
    assert sorted(str(e.idempotency_key) for e in stored_events(app)) == ["view-1", "view-2", "view-3"]


def test_a_token_changed_on_another_host_stops_the_fast_path_at_once(app: Flask, settings_env: dict[str, str]) -> None:
    """Another host holds the shop's user and stores its events without Flask; a token rotated here, then the user
    disabled, is refused there at the very next event (its check reads the count in the transaction that writes)."""
    pair = api_user(app, "editor", "shop")
    setup = app.test_client()
    setup.environ_base["HTTP_AUTHORIZATION"] = f"token {pair}"
    taro = add_subscriber(setup, "taro@example.jp")
    other = create_app({**settings_env, "TESTING": True})  # another host: the same database, its own memory
    there = other.test_client()
    assert there.get("/api/lists", headers=basic(pair)).status_code == 200  # it holds the shop's user now
    view = {"subscriber_id": taro["id"], "name": "page_view"}
    assert there.post("/api/events", json=view, headers=basic(pair)).status_code == 200
    with app.app_context():
        new_token = rotate_token(db.session.scalars(select(User).where(User.username == "shop")).one())
    assert there.post("/api/events", json=view, headers=basic(pair)).status_code == 403
    assert there.post("/api/events", json=view, headers=basic(f"shop:{new_token}")).status_code == 200
    assert there.post("/api/events", json=view, headers=basic(f"shop:{new_token}")).status_code == 200
    with app.app_context():
        update_user(db.session.scalars(select(User).where(User.username == "shop")).one(), role="editor",
                    enabled=False)
    assert there.post("/api/events", json=view, headers=basic(f"shop:{new_token}")).status_code == 403
    assert len(stored_events(app)) == 3
    with other.app_context():
        db.engine.dispose()


def test_create_subscriber_adds_an_unknown_address_on_no_list(app: Flask, shop: FlaskClient) -> None:
    events = [{"email": "hanako@example.jp", "create_subscriber": True, "name": "signup"},
              {"email": "HANAKO@example.jp", "name": "purchase"},  # the same person, created by the event above
              {"email": "jiro@example.jp", "name": "purchase"},  # not created: no create_subscriber
              {"subscriber_id": 424242, "create_subscriber": True, "name": "purchase"},  # an id cannot be created
              {"email": "not an address", "create_subscriber": True, "name": "signup"}]
    response = shop.post("/api/events", json={"events": events})
    data = response.get_json()["data"]
    assert data["stored"] == [0, 1]
    assert {e["index"]: e["field"] for e in data["errors"]} == {2: "subscriber", 3: "create_subscriber", 4: "email"}
    hanako = shop.get("/api/subscribers", query_string={"query": "subscribers.email='hanako@example.jp'"}).get_json()
    [person] = hanako["data"]["results"]
    assert person["name"] == "hanako" and person["lists"] == [] and person["status"] == "enabled"
    assert {e.subscriber_id for e in stored_events(app)} == {person["id"]}
    # Creating again finds the subscriber created the first time.
    assert shop.post("/api/events", json=events[0]).get_json()["data"]["stored"] == [0]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 1


def test_get_filters_by_subscriber_name_and_time_newest_first(shop: FlaskClient) -> None:
    taro, hanako = add_subscriber(shop, "taro@example.jp"), add_subscriber(shop, "hanako@example.jp")
    events = [{"subscriber_id": person["id"], "name": name, "occurred_at": f"2026-05-0{day}T12:00:00+09:00"}
              for person in (taro, hanako) for name, day in (("purchase", 1), ("view", 2), ("purchase", 3))]
    assert shop.post("/api/events", json={"events": events}).status_code == 200

    def results(**args: Any) -> list[tuple[str, str, str]]:
        response = shop.get("/api/events", query_string=args)
        assert response.status_code == 200, response.get_json()
        return [(r["email"], r["name"], r["occurred_at"][:10]) for r in response.get_json()["data"]["results"]]

    assert results(email="TARO@example.jp") == [("taro@example.jp", "purchase", "2026-05-03"),
                                                ("taro@example.jp", "view", "2026-05-02"),
                                                ("taro@example.jp", "purchase", "2026-05-01")]
    assert results(subscriber_uuid=hanako["uuid"], name="purchase") == [
        ("hanako@example.jp", "purchase", "2026-05-03"), ("hanako@example.jp", "purchase", "2026-05-01")]
    assert results(subscriber_id=taro["id"], **{"from": "2026-05-02T00:00:00+09:00",
                                                "to": "2026-05-03T00:00:00+09:00"}) == [
        ("taro@example.jp", "view", "2026-05-02")]
    assert results(email="nobody@example.jp") == [] and results(email="not an address") == []
    page = shop.get("/api/events", query_string={"name": "purchase", "per_page": 3, "page": 2}).get_json()["data"]
    assert (page["total"], page["per_page"], page["page"], len(page["results"])) == (4, 3, 2, 1)
    assert page["results"][0]["occurred_at"].startswith("2026-05-01")
    bad = shop.get("/api/events", query_string={"from": "yesterday"})
    assert bad.status_code == 400
    assert bad.get_json()["message"] == "from must be a time with its offset, like 2026-05-01T09:00:00+09:00."


def test_viewers_read_events_and_only_writers_send_them(app: Flask, shop: FlaskClient) -> None:
    taro = add_subscriber(shop, "taro@example.jp")
    viewer = {"Authorization": f"token {api_user(app, 'viewer', 'analyst')}"}
    refused = shop.post("/api/events", json={"subscriber_id": taro["id"], "name": "purchase"}, headers=viewer)
    assert refused.status_code == 403
    assert shop.get("/api/events", headers=viewer).status_code == 200


def test_the_subscriber_page_shows_each_event_on_the_timeline(app: Flask, shop: FlaskClient,
                                                              users: dict[str, str]) -> None:
    taro = add_subscriber(shop, "taro@example.jp")
    shop.post("/api/events", json={"subscriber_id": taro["id"], "name": "purchase", "properties": PRINTER,
                                   "occurred_at": "2026-05-01T09:30:00+09:00"})
    page = app.test_client()
    login(page, "viewer")
    html = page.get(f"/subscribers/{taro['id']}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Event “purchase”" in html and "price: 39800 · product: プリンター PX-1" in html
    japanese = app.test_client()
    login(japanese, "editor", **{"Accept-Language": "ja"})
    html = japanese.get(f"/subscribers/{taro['id']}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "イベント「purchase」" in html


def test_deleting_a_subscriber_deletes_their_events(app: Flask, shop: FlaskClient) -> None:
    taro, hanako = add_subscriber(shop, "taro@example.jp"), add_subscriber(shop, "hanako@example.jp")
    shop.post("/api/events", json={"events": [{"subscriber_id": taro["id"], "name": "purchase"},
                                              {"subscriber_id": hanako["id"], "name": "purchase"}]})
    assert shop.delete(f"/api/subscribers/{taro['id']}").status_code == 200
    assert [e.subscriber_id for e in stored_events(app)] == [hanako["id"]]


def test_a_subscriber_deleted_after_the_lookup_is_refused_as_unknown(app: Flask, shop: FlaskClient,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    taro, hanako = add_subscriber(shop, "taro@example.jp"), add_subscriber(shop, "hanako@example.jp")
    looked_up = events_module._subscribers

    def then_taro_is_deleted(batch: Any) -> Any:  # as another request deleting him would, before the insert
        found = looked_up(batch)
        db.session.execute(delete(Subscriber).where(Subscriber.id == taro["id"]))
        return found

    monkeypatch.setattr(events_module, "_subscribers", then_taro_is_deleted)
    response = shop.post("/api/events", json={"events": [
        {"subscriber_id": taro["id"], "name": "purchase", "idempotency_key": "order-1"},
        {"email": "taro@example.jp", "name": "login"},
        {"subscriber_id": hanako["id"], "name": "purchase", "idempotency_key": "order-2"}]})
    assert response.status_code == 400  # not a foreign-key violation's 500
    body = response.get_json()["data"]
    assert body["stored"] == [2] and body["duplicates"] == []
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "subscriber"), (1, "subscriber")]
    assert [(e.subscriber_id, e.idempotency_key) for e in stored_events(app)] == [(hanako["id"], "order-2")]
