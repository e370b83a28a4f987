"""The marketer's home: the setup checklist (each step flips when it is done), subscribers over time, list sizes,
recent campaigns, automations with their conversions; system health on its own page for admins."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from automations.models import Automation, Run, StepCount
from core.db import db, utcnow
from lists.models import Subscriber
from mailer.outbox import Outbox
from tests.dns_server import DNSServer
from tests.helpers import api_user, login, run_jobs, submit, text_of
from tests.mailer.helpers import Received, audience
from tracking.models import Conversion

LEGAL = ("KAIRAN_COMPANY_NAME", "KAIRAN_POSTAL_ADDRESS", "KAIRAN_CONTACT")
STEP = re.compile(r'data-step="(\w+)" data-done="(true|false)"')


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    return {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}


def checklist(client: FlaskClient) -> dict[str, bool]:
    return {step: done == "true" for step, done in STEP.findall(client.get("/").get_data(as_text=True))}


class TestChecklist:
    @pytest.fixture
    def settings_env(self, settings_env: dict[str, str]) -> dict[str, str]:
        return {name: value for name, value in settings_env.items() if name not in LEGAL}

    @pytest.fixture
    def dns_server(self, app: Flask) -> Iterator[DNSServer]:
        server = DNSServer()
        app.config["DNS_NAMESERVER"] = server.address
        yield server
        server.close()

    def test_each_step_flips_when_it_is_done_and_links_to_where_to_do_it(
            self, app: Flask, client: FlaskClient, users: dict[str, str], admin: dict[str, str], capture: Outbox,
            dns_server: DNSServer, smtp_server: Callable[..., tuple[int, Received]]) -> None:
        login(client, "admin")
        assert checklist(client) == {"legal": False, "dkim": False, "relay": False, "bounce_mx": False,
                                     "test_mail": False}
        page = client.get("/").get_data(as_text=True)
        assert 'href="/settings">Legal details set</a>' in page and "Missing: company name, postal address, contact."\
            in page and 'href="/settings/relays/">A relay that passed its test</a>' in page

        client.put("/api/settings", headers=admin, json={
            "KAIRAN_COMPANY_NAME": "回覧商事", "KAIRAN_POSTAL_ADDRESS": "大阪市北区1-2-3",
            "KAIRAN_CONTACT": "03-1234-5678"})
        assert checklist(client)["legal"] is True

        settings = app.config["KAIRAN"]  # as if the environment named the host (it outlives settings read again)
        app.config["KAIRAN"] = dataclasses.replace(settings, base_url="https://mail.kairan.example", env={
            **settings.env, "KAIRAN_BASE_URL": "https://mail.kairan.example"})
        domain = client.post("/api/domains", headers=admin, json={"domain": "news.kairan.example"}).get_json()["data"]
        check = f"/api/domains/{domain['id']}/check"
        assert client.post(check, headers=admin).get_json()["data"]["ok"] is False
        assert checklist(client)["dkim"] is False
        for record in domain["dns"]:
            if "_domainkey" in record["name"]:
                dns_server.publish(record["type"], record["name"], record["value"])
        client.post(check, headers=admin)
        assert (checklist(client)["dkim"], checklist(client)["bounce_mx"]) == (True, False)  # MX not yet published
        dns_server.publish("MX", "bounce.news.kairan.example", "10 mail.kairan.example.")
        client.post(check, headers=admin)
        assert checklist(client)["bounce_mx"] is True

        port, _received = smtp_server()
        relay = client.post("/api/relays", headers=admin, json={"name": "本社", "host": "127.0.0.1", "port": port,
                                                                "enabled": False}).get_json()["data"]
        closed = client.post("/api/relays", headers=admin, json={"name": "閉", "host": "127.0.0.1", "port": 1,
                                                                 "enabled": False}).get_json()["data"]
        assert client.post(f"/api/relays/{closed['id']}/test", headers=admin).get_json()["data"]["ok"] is False
        assert checklist(client)["relay"] is False
        submit(client, "/settings/relays/", f"/settings/relays/{relay['id']}/test")
        assert checklist(client)["relay"] is True

        submit(client, "/outbox/", "/outbox/test", to="boss@kairan.example")
        assert checklist(client)["test_mail"] is False  # queued is not sent
        run_jobs(app)
        assert capture.count() == 1
        assert checklist(client) == {}  # every step done: the checklist leaves the home

    def test_the_capture_server_passing_its_test_is_no_relay(self, client: FlaskClient, users: dict[str, str],
                                                             capture: Outbox) -> None:
        login(client, "admin")
        submit(client, "/settings/relays/", "/settings/relays/default/test")
        assert checklist(client)["relay"] is False

    def test_editors_do_not_see_it(self, client: FlaskClient, users: dict[str, str]) -> None:
        login(client, "editor")
        assert checklist(client) == {}


def test_the_home_shows_subscribers_over_time_lists_campaigns_and_automations(
        app: Flask, client: FlaskClient, users: dict[str, str], admin: dict[str, str], capture: Outbox) -> None:
    first, second = audience(client, admin)  # three people today (one blocklisted)
    with app.app_context():
        earlier = utcnow() - timedelta(days=3)
        db.session.execute(update(Subscriber).where(Subscriber.email_key == "hanako@example.jp")
                           .values(created_at=earlier))
        long_ago = utcnow() - timedelta(days=90)  # before the chart: counted in the total only
        db.session.execute(update(Subscriber).where(Subscriber.email_key == "bad@example.jp")
                           .values(created_at=long_ago))
        db.session.commit()
    taro = client.get("/api/subscribers", headers=admin, query_string={"query": "subscribers.email LIKE 'taro%'"}
                      ).get_json()["data"]["results"][0]["id"]
    client.put("/api/subscribers/lists", headers=admin,
               json={"ids": [taro], "action": "unsubscribe", "target_list_ids": [first]})
    campaign = client.post("/api/campaigns", headers=admin, json={
        "name": "11月号", "subject": "お知らせ", "content_type": "html", "lists": [second],
        "body": "<p>本文</p>"}).get_json()["data"]
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=admin, json={"status": "running"})
    run_jobs(app)

    login(client, "editor")
    page = client.get("/").get_data(as_text=True)
    assert re.search(r"data-total>3<", page) and "data-joined>+2<" in page and "data-left>−1<" in page
    today = utcnow().astimezone(ZoneInfo("Asia/Tokyo")).date()
    bars = dict(re.findall(r'<g data-day="([\d-]+)"><title>[\d-]+: ([^<]+)</title>', page))
    assert len(bars) == 30 and bars[today.isoformat()] == "+1 / −1"
    # The legend says the bars are per day over 30 days and that the figures are recounted every minute.
    first_day = (today - timedelta(days=29)).isoformat()
    assert (f"per day over the last 30 days ({first_day} – {today.isoformat()}) · figures updated every minute"
            in text_of(page))
    with client.session_transaction() as session:
        session["language"] = "ja"
    assert (f"日ごとの人数・過去30日（{first_day}～{today.isoformat()}） · 1分ごとに更新"
            in text_of(client.get("/").get_data(as_text=True)))
    with client.session_transaction() as session:
        session["language"] = "en"
    assert bars[(today - timedelta(days=3)).isoformat()] == "+1 / −0"
    sizes = re.findall(r'<tr data-list="(\d+)"><td><a [^>]+>([^<]+)</a></td><td class="num">(\d+)</td>', page)
    assert sizes == [(str(second), "セール", "2"), (str(first), "お知らせ", "1")]  # taro left お知らせ
    assert "11月号" in text_of(page)  # the recent campaigns with their rates
    assert "data-component" not in page and "System health" not in page  # editors: no system health here

    submit(client, "/automations/", "/automations/new", recipe="printer")
    with app.app_context():
        automation = db.session.scalars(select(Automation)).one()
        automation_id = automation.id
    submit(client, f"/automations/{automation_id}", f"/automations/{automation_id}/status", move="activate")
    with app.app_context():
        live = db.session.get(Automation, automation_id)
        assert live is not None and live.version_id is not None
        start = live.draft["start"]
        for step, entered, converted in ((start, 40, 0), ("goal", 10, 10)):  # as the engine's batches add them up
            db.session.merge(StepCount(version_id=live.version_id, step=step, entered=entered, passed=0,
                                       sent=0, converted=converted, exited=0, failed=0))
        run = Run(automation_id=automation_id, version_id=live.version_id, subscriber_id=taro)
        db.session.add(run)
        db.session.flush()
        for event_id, amount, currency in ((1, 398000, "JPY"), (2, 1999, "USD")):  # a purchase its message brought
            db.session.add(Conversion(event_id=event_id, subscriber_id=taro, campaign_id=campaign["id"],
                                      delivery_id=0, run_id=run.id, via="click", at=utcnow(), amount=amount,
                                      currency=currency))
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    line = page[page.index(f'data-automation="{automation_id}"'):]
    line = line[:line.index("</tr>")]
    assert "data-entered>40<" in line and "data-converted>10<" in line and "data-rate>25.0%<" in line
    assert "data-purchases>2<" in line and "data-revenue>¥398,000<" in line  # revenue in KAIRAN_CURRENCY only


def test_a_new_installation_says_how_to_add_subscribers_and_shows_the_first_at_once(
        app: Flask, client: FlaskClient, users: dict[str, str], admin: dict[str, str]) -> None:
    login(client, "editor")
    empty = client.get("/").get_data(as_text=True)
    assert "No subscribers yet." in empty and "data-total" not in empty
    assert 'href="/subscribers/import/"' in empty and 'href="/subscribers/"' in empty and 'href="/lists/"' in empty
    viewer = app.test_client()
    login(viewer, "viewer")
    seen = viewer.get("/").get_data(as_text=True)  # no way to add any: who does
    assert "An editor or admin adds subscribers" in seen and 'href="/subscribers/import/"' not in seen
    audience(client, admin)  # three people, before any worker counts them
    assert re.search(r"data-total>3<", client.get("/").get_data(as_text=True))
    # A small installation's next subscriber shows on the next load too, not when the kept figures expire
    assert client.post("/api/subscribers", headers=admin, json={"email": "jiro@example.jp"}).status_code == 200
    assert re.search(r"data-total>4<", client.get("/").get_data(as_text=True))


def test_system_health_has_its_own_page_for_admins(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "admin")
    system = client.get("/system").get_data(as_text=True)
    for component in ("database", "redis", "workers", "scheduler", "queues", "smtp"):
        assert f'data-component="{component}"' in system
    home = client.get("/").get_data(as_text=True)
    assert "data-component" not in home and 'href="/system"' in home
    assert "No scheduler is running" in home  # an important notice stays on the home, linking to its tile
    assert 'href="/system#scheduler"' in home
    editor = app.test_client()
    login(editor, "editor")
    assert editor.get("/system").status_code == 403

