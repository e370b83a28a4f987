"""Public pages: subscribe, double opt-in through a real worker and SMTP, one-click unsubscribe, preferences."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import select

from app import create_app
from core.db import db
from core.tokens import Purpose, make_token
from lists.consent_evidence import describe
from lists.models import ConsentMethod, ConsentRecord, ListOptin, ListType, MailingList, Subscriber, SubscriberStatus
from mailer.outbox import Outbox
from tests.helpers import csrf_token, login, run_jobs, statuses, subscriber


@pytest.fixture
def lists(app: Flask) -> dict[str, str]:
    """A public single opt-in list, a public double opt-in list and a private list; name → uuid."""
    with app.app_context():
        made = [MailingList(name="週刊", type=ListType.PUBLIC, optin=ListOptin.SINGLE, description="", tags=[]),
                MailingList(name="VIP", type=ListType.PUBLIC, optin=ListOptin.DOUBLE, description="", tags=[]),
                MailingList(name="社内", type=ListType.PRIVATE, optin=ListOptin.SINGLE, description="", tags=[])]
        db.session.add_all(made)
        db.session.commit()
        return {m.name: m.uuid for m in made}


def test_public_lists_api_shows_only_public_lists(client: FlaskClient, lists: dict[str, str]) -> None:
    assert client.get("/api/public/lists").get_json() == [{"uuid": lists["VIP"], "name": "VIP"},
                                                          {"uuid": lists["週刊"], "name": "週刊"}]


def test_form_subscribes_to_a_single_optin_list_with_its_consent(app: Flask, client: FlaskClient,
                                                                 lists: dict[str, str]) -> None:
    page = client.get("/subscription/form").get_data(as_text=True)
    assert "週刊" in page and "社内" not in page  # private lists never show
    response = client.post("/subscription/form", data={"email": "ｔａｒｏ＠example.jp", "name": "太郎",
                                                       "l": lists["週刊"]}, headers={"User-Agent": "Mozilla/5.0 test"})
    assert response.status_code == 200 and "You are subscribed." in response.get_data(as_text=True)
    assert statuses(app, "taro@example.jp") == {"週刊": "confirmed"}
    with app.app_context():
        record = db.session.scalars(select(ConsentRecord)).one()
        assert record.evidence == "I agree to receive newsletters by email from 回覧商事."  # the company's name
        assert record.ip == "127.0.0.1" and record.user_agent == "Mozilla/5.0 test"


@pytest.mark.parametrize(("trusted_proxies", "recorded"), [("0", "127.0.0.1"), ("1", "203.0.113.7")])
def test_consent_records_the_readers_address_behind_a_trusted_proxy(settings_env: dict[str, str],
                                                                    trusted_proxies: str, recorded: str) -> None:
    # Behind nginx every request comes from the proxy: KAIRAN_TRUSTED_PROXIES=1 takes the address it forwards.
    # Without it the header is ignored, or anyone could write any address into the consent record.
    app = create_app({**settings_env, "KAIRAN_TRUSTED_PROXIES": trusted_proxies, "TESTING": True})
    with app.app_context():
        upgrade()
        weekly = MailingList(name="週刊", type=ListType.PUBLIC, optin=ListOptin.SINGLE, description="", tags=[])
        db.session.add(weekly)
        db.session.commit()
        uuid = weekly.uuid
    response = app.test_client().post("/subscription/form", data={"email": "taro@example.jp", "l": uuid},
                                      headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalars(select(ConsentRecord.ip)).one() == recorded
        db.engine.dispose()


def test_double_optin_mail_link_confirms(app: Flask, client: FlaskClient, lists: dict[str, str],
                                         capture: Outbox) -> None:
    response = client.post("/subscription/form", data={"email": "hanako@example.jp", "l": lists["VIP"]})
    assert "check your inbox" in response.get_data(as_text=True)
    assert statuses(app, "hanako@example.jp") == {"VIP": "unconfirmed"}
    run_jobs(app)  # a real worker sends the confirmation mail to the capture server
    entries, total = capture.page(1, 10)
    assert total == 1 and entries[0].to == "hanako <hanako@example.jp>"
    message = capture.get(entries[0].key)
    assert message is not None and message.text is not None
    link = re.search(r"http://127\.0\.0\.1:\d+(/subscription/optin/\S+)", message.text)
    assert link, message.text
    page = client.get(link.group(1))
    assert page.status_code == 200 and "VIP" in page.get_data(as_text=True)
    assert statuses(app, "hanako@example.jp") == {"VIP": "unconfirmed"}  # GET shows, never confirms
    token = re.search(r'name="t" value="([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    confirmed = client.post(link.group(1).split("?")[0], data={
        "csrf_token": csrf_token(client, link.group(1)), "t": token, "confirm": "true", "l": lists["VIP"]})
    assert "Subscription confirmed" in confirmed.get_data(as_text=True)
    assert statuses(app, "hanako@example.jp") == {"VIP": "confirmed"}
    with app.app_context():
        last = db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id.desc())).first()
        assert last is not None and last.method == ConsentMethod.EMAIL_LINK
        assert describe(last.evidence) == "Opt-in confirmation link"


def test_forged_or_wrong_purpose_tokens_do_nothing(app: Flask, client: FlaskClient, lists: dict[str, str]) -> None:
    client.post("/subscription/form", data={"email": "a@example.jp", "l": lists["VIP"]})
    uuid = subscriber(app, "a@example.jp").uuid
    with app.test_request_context():
        preferences_token = make_token(Purpose.PREFERENCES, uuid)
    for url in (f"/subscription/optin/{uuid}?t=forged", f"/subscription/optin/{uuid}?t={preferences_token}",
                "/u/forged-token", f"/u/{preferences_token}", "/p/forged"):
        response = client.get(url)
        assert response.status_code == 404 and "This link is not valid" in response.get_data(as_text=True), url
    assert client.post("/u/forged-token", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert statuses(app, "a@example.jp") == {"VIP": "unconfirmed"}


@pytest.mark.parametrize("multipart", [False, True])
def test_one_click_unsubscribe_needs_no_cookie_and_get_never_unsubscribes(
        app: Flask, client: FlaskClient, lists: dict[str, str], multipart: bool) -> None:
    client.post("/subscription/form", data={"email": "b@example.jp", "l": [lists["週刊"]]})
    with app.test_request_context():
        token = make_token(Purpose.UNSUBSCRIBE, subscriber(app, "b@example.jp").uuid)
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "Unsubscribe from all" in page.get_data(as_text=True)
    assert statuses(app, "b@example.jp") == {"週刊": "confirmed"}  # a GET (a mail scanner) changes nothing
    # What Gmail's servers send: no cookie, no CSRF token, the RFC 8058 body.
    mail_provider = app.test_client(use_cookies=False)
    response = mail_provider.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"},
                                  content_type="multipart/form-data" if multipart else None)
    assert response.status_code == 200 and "Location" not in response.headers
    assert statuses(app, "b@example.jp") == {"週刊": "unsubscribed"}
    with app.app_context():
        assert describe(db.session.scalars(select(ConsentRecord.evidence).order_by(ConsentRecord.id.desc())).first()
                        or "") == "One-click unsubscribe from the mail client (RFC 8058)"


def test_preferences_change_lists_and_name(app: Flask, client: FlaskClient, lists: dict[str, str]) -> None:
    client.post("/subscription/form", data={"email": "c@example.jp", "name": "C", "l": [lists["週刊"]]})
    with app.app_context():
        ids = {m.name: m.id for m in db.session.scalars(select(MailingList))}
    with app.test_request_context():
        token = make_token(Purpose.PREFERENCES, subscriber(app, "c@example.jp").uuid)
    page = client.get(f"/p/{token}").get_data(as_text=True)
    assert "週刊" in page and "VIP" in page and "社内" not in page
    response = client.post(f"/p/{token}", data={"csrf_token": csrf_token(client, f"/p/{token}"), "name": "Ｃさん",
                                                "l": [str(ids["VIP"])]})
    assert "Your choices are saved." in response.get_data(as_text=True)
    assert statuses(app, "c@example.jp") == {"週刊": "unsubscribed", "VIP": "unconfirmed"}
    assert subscriber(app, "c@example.jp").name == "Ｃさん"


def test_bots_blocklisted_and_private_lists_get_nowhere(app: Flask, client: FlaskClient, lists: dict[str, str]) -> None:
    bot = client.post("/subscription/form", data={"email": "bot@example.jp", "l": lists["週刊"],
                                                  "website": "http://spam.example"})
    assert bot.status_code == 200
    with app.app_context():
        assert db.session.scalars(select(Subscriber)).first() is None  # the honeypot was filled
        db.session.add(Subscriber(email="bad@example.jp", email_key="bad@example.jp", name="x", attribs={},
                                  status=SubscriberStatus.BLOCKLISTED))
        db.session.commit()
    blocked = client.post("/subscription/form", data={"email": "bad@example.jp", "l": lists["週刊"]})
    assert blocked.status_code == 200 and "You are subscribed." in blocked.get_data(as_text=True)  # no leak
    assert statuses(app, "bad@example.jp") == {}
    private = client.post("/subscription/form", data={"email": "d@example.jp", "l": lists["社内"]})
    assert private.status_code == 400
    assert "not open to subscription" in private.get_data(as_text=True)
    bad_address = client.post("/subscription/form", data={"email": "d@example.jp\r\nBcc: x@y.jp", "l": lists["週刊"]})
    assert bad_address.status_code == 400 and "line breaks" in bad_address.get_data(as_text=True)


def test_public_subscription_api_as_listmonk(app: Flask, client: FlaskClient, lists: dict[str, str]) -> None:
    response = client.post("/api/public/subscription", json={"email": "e@example.jp", "name": "E",
                                                              "list_uuids": [lists["VIP"], lists["週刊"]]})
    assert response.get_json() == {"data": {"has_optin": True}}
    assert statuses(app, "e@example.jp") == {"週刊": "confirmed", "VIP": "unconfirmed"}
    refused = client.post("/api/public/subscription", json={"email": "f@example.jp", "list_uuids": []})
    assert refused.status_code == 400 and refused.get_json() == {"message": "Choose at least one list."}


def test_signups_are_rate_limited_per_address(client: FlaskClient, lists: dict[str, str]) -> None:
    def sign_up(email: str) -> int:
        return client.post("/subscription/form", data={"email": email, "l": lists["週刊"]}).status_code

    assert [sign_up(f"u{i}@example.jp") for i in range(20)] == [200] * 20
    assert sign_up("u99@example.jp") == 429


def test_embeddable_snippet_posts_to_the_public_form(app: Flask, client: FlaskClient, lists: dict[str, str],
                                                     users: dict[str, str]) -> None:
    login(client, "viewer")
    page = client.get("/lists/form").get_data(as_text=True)
    assert 'action="http://127.0.0.1:5000/subscription/form"' in page  # KAIRAN_BASE_URL, as a website needs it
    assert f'value="{lists["週刊"]}"' in page and lists["社内"] not in page and 'name="website"' in page
    # What a visitor's browser sends from another site: no cookie, no CSRF token.
    visitor = app.test_client(use_cookies=False)
    response = visitor.post("/subscription/form", data={"email": "web@example.jp", "l": lists["週刊"]})
    assert response.status_code == 200 and statuses(app, "web@example.jp") == {"週刊": "confirmed"}
