"""The audience pages: lists with counts, subscribers with search, bulk actions, profile and timeline."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from core.db import db
from lists.consent_evidence import describe
from lists.models import ConsentMethod, MailingList, Subscriber, Subscription, SubscriptionStatus
from tests.helpers import csrf_token, login, submit


def add_list(client: FlaskClient, name: str, optin: str = "single") -> int:
    response = submit(client, "/lists/", name=name, type="private", optin=optin, tags="月刊, news", description="")
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_editor_creates_a_list_and_sees_it_with_counts(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    list_id = add_list(client, "お知らせ")
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    assert "お知らせ" in page and "Single opt-in" in page
    index = client.get("/lists/").get_data(as_text=True)
    assert 'data-list="お知らせ"' in index and "月刊" in index
    refused = submit(client, "/lists/", name="", type="private", optin="single", tags="", description="")
    assert refused.status_code == 400 and "This field is required." in refused.get_data(as_text=True)


def test_viewer_sees_lists_but_no_forms_and_cannot_post(client: FlaskClient, users: dict[str, str],
                                                        app: Flask) -> None:
    with app.app_context():
        db.session.add(MailingList(name="news", description="", tags=[]))
        db.session.commit()
    login(client, "viewer")
    assert "Create a list" not in client.get("/lists/").get_data(as_text=True)
    assert "Edit list" not in client.get("/lists/1").get_data(as_text=True)
    token = csrf_token(client, "/lists/")
    for path in ("/lists/", "/lists/1", "/lists/1/delete", "/subscribers/", "/subscribers/bulk"):
        assert client.post(path, data={"csrf_token": token, "name": "x"}).status_code == 403, path


def test_subscriber_added_by_hand_has_consent_and_timeline(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    list_id = add_list(client, "週刊ニュース", optin="double")
    response = submit(client, "/subscribers/", **{"new-email": "Ｔａｒｏ＠example.jp", "new-name": "山田太郎",
                                                 "new-lists": str(list_id)})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Taro@example.jp" in page and "山田太郎" in page
    # Added by an admin: confirmed at once, and the record says who did it, from where.
    assert "Subscribed to 週刊ニュース" in page and "by an admin" in page and "editor" in page
    assert "127.0.0.1" in page


def test_bad_attribute_json_names_the_line_and_keeps_the_subscriber(client: FlaskClient, users: dict[str, str],
                                                                    app: Flask) -> None:
    login(client, "admin")
    submit(client, "/subscribers/", **{"new-email": "a@example.jp", "new-name": "A"})
    with app.app_context():
        sid = db.session.scalars(db.select(Subscriber.id)).one()
    response = submit(client, f"/subscribers/{sid}", email="a@example.jp", name="B", status="enabled",
                      attribs='{\n  "city": "大阪",\n  "plan": gold\n}')
    assert response.status_code == 400
    assert "line 3" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get_one(Subscriber, sid).name == "A"  # nothing half-saved
    ok = submit(client, f"/subscribers/{sid}", email="a@example.jp", name="B", status="enabled",
                attribs='{"city": "大阪"}')
    assert ok.status_code == 302
    with app.app_context():
        assert db.session.get_one(Subscriber, sid).attribs == {"city": "大阪"}


def seed(app: Flask, count: int, list_name: str = "news") -> int:
    """Insert count subscribers on one list; return the list id."""
    with app.app_context():
        mailing_list = MailingList(name=list_name, description="", tags=[])
        db.session.add(mailing_list)
        db.session.flush()
        for i in range(count):
            subscriber = Subscriber(email=f"user{i:03d}@example.jp", email_key=f"user{i:03d}@example.jp",
                                    name=f"User {i}", attribs={"n": i})
            subscriber.subscriptions.append(Subscription(list_id=mailing_list.id, status=SubscriptionStatus.CONFIRMED,
                                                         meta={}))
            db.session.add(subscriber)
        db.session.commit()
        return mailing_list.id


def test_search_filters_and_keyset_paging(client: FlaskClient, users: dict[str, str], app: Flask) -> None:
    seed(app, 120)
    login(client, "viewer")
    first = client.get("/subscribers/").get_data(as_text=True)
    assert "120 subscribers" in first
    emails = re.findall(r'data-email="([^"]+)"', first)
    assert len(emails) == 50 and emails[0] == "user119@example.jp"
    older = re.search(r'href="(/subscribers/\?before=\d+)"', first)
    assert older
    second = re.findall(r'data-email="([^"]+)"', client.get(older.group(1)).get_data(as_text=True))
    assert second[0] == "user069@example.jp" and len(second) == 50
    found = client.get("/subscribers/?search=user07").get_data(as_text=True)
    assert "10 subscribers" in found
    assert "No subscriber matches." in client.get("/subscribers/?search=nobody").get_data(as_text=True)


def test_bulk_actions_on_a_selection_and_on_a_whole_search(client: FlaskClient, users: dict[str, str],
                                                           app: Flask) -> None:
    news = seed(app, 30)
    with app.app_context():
        other = MailingList(name="vip", description="", tags=[])
        db.session.add(other)
        db.session.commit()
        vip = other.id
        ids = db.session.scalars(db.select(Subscriber.id).order_by(Subscriber.id).limit(3)).all()
    login(client, "editor")
    token = csrf_token(client, "/subscribers/")
    response = client.post("/subscribers/bulk", data={"csrf_token": token, "scope": "selected", "action": "add",
                                                      "target_list": str(vip), "ids": [str(i) for i in ids]})
    assert response.status_code == 302
    assert "3 subscribers changed." in client.get("/subscribers/").get_data(as_text=True)
    # Every subscriber matching "user02": unsubscribe from news.
    client.post("/subscribers/bulk", data={"csrf_token": token, "scope": "all", "action": "unsubscribe",
                                           "target_list": str(news), "search": "user02"})
    with app.app_context():
        unsubscribed = db.session.scalar(db.select(db.func.count()).select_from(Subscription).where(
            Subscription.list_id == news, Subscription.status == SubscriptionStatus.UNSUBSCRIBED))
        assert unsubscribed == 10
        vip_count = db.session.scalar(db.select(db.func.count()).select_from(Subscription).where(
            Subscription.list_id == vip))
        assert vip_count == 3
    client.post("/subscribers/bulk", data={"csrf_token": token, "scope": "all", "action": "delete",
                                           "search": "user00"})
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Subscriber)) == 20
    no_action = client.post("/subscribers/bulk", data={"csrf_token": token, "scope": "selected", "ids": ["1"]})
    assert no_action.status_code == 302
    assert "Choose an action" in client.get("/subscribers/").get_data(as_text=True)


def test_consent_method_is_kept_per_change(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    list_id = add_list(client, "news")
    submit(client, "/subscribers/", **{"new-email": "a@example.jp", "new-lists": str(list_id)})
    with app.app_context():
        from lists.models import ConsentRecord

        record = db.session.scalars(db.select(ConsentRecord)).one()
        assert record.method == ConsentMethod.ADMIN and describe(record.evidence) == "editor"


def test_edit_forms_show_attributes_as_json_and_tags_as_text(client: FlaskClient, users: dict[str, str],
                                                              app: Flask) -> None:
    with app.app_context():
        mailing_list = MailingList(name="news", description="", tags=["月刊", "news"])
        subscriber = Subscriber(email="a@example.jp", email_key="a@example.jp", name="A", attribs={"city": "大阪"})
        db.session.add_all([mailing_list, subscriber])
        db.session.commit()
        list_id, subscriber_id = mailing_list.id, subscriber.id
    login(client, "editor")
    assert '"city": "大阪"' in client.get(f"/subscribers/{subscriber_id}").get_data(as_text=True)
    assert 'value="月刊, news"' in client.get(f"/lists/{list_id}").get_data(as_text=True)


def test_times_show_in_the_configured_zone(client: FlaskClient, users: dict[str, str], app: Flask) -> None:
    from datetime import UTC, datetime

    with app.app_context():
        db.session.add(MailingList(name="tz", description="", tags=[],
                                   created_at=datetime(2026, 1, 1, 0, 30, tzinfo=UTC)))
        db.session.commit()
    login(client, "viewer")
    # Stored as 00:30 UTC; the default zone is Asia/Tokyo, nine hours ahead.
    assert "9:30:00" in client.get("/lists/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_with_one_list_a_subscriber_added_by_hand_is_meant_for_it(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    only = add_list(client, "お知らせ")
    form = client.get("/subscribers/").get_data(as_text=True)
    assert re.search(rf'<option selected value="{only}">|<option value="{only}" selected>', form)
    add_list(client, "セール")  # with two, the editor chooses
    choice = re.search(r'<select[^>]*name="new-lists".*?</select>', client.get("/subscribers/").get_data(as_text=True),
                       re.S)
    assert choice is not None and "selected" not in choice[0]
