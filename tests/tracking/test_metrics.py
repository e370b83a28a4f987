"""Campaign metrics on a campaign whose every figure is known by hand, on SQLite and PostgreSQL.

Events go through the flusher's real insert and classification (tracking/flush.py); bounces are
stored as tracking/bounces.py stores them; the unsubscribe goes through the public page.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app import create_app
from core.db import db
from lists.models import ConsentMethod, MailingList, Subscriber, SubscriptionStatus
from lists.public import public_links
from lists.subscribers import Consent, subscribe
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Link
from mailer.template_context import reader_context
from tests.helpers import FORMULAS, api_user, csrf_token, login, text_of
from tests.tracking.helpers import APPLE_MPP, BROWSER, GMAIL_PROXY
from tests.tracking.known_campaign import NEW, READERS, SALE, T0, Built, build
from tracking import metrics, metrics_cache
from tracking.classify import client_and_device
from tracking.event_batch import Incoming, store_batch
from tracking.metrics import build_report, campaign_metrics, campaign_report, compare_campaigns, rate
from tracking.models import Bounce, BounceType, EventKind


def unsubscribe_through_message(app: Flask, client: FlaskClient, built: Built, who: str) -> None:
    """Post the one-click unsubscribe (RFC 8058) to the List-Unsubscribe URL of this reader's message."""
    with app.app_context():
        subscriber = db.session.scalars(select(Subscriber).where(Subscriber.email == READERS[who][0])).one()
        campaign = db.session.get_one(Campaign, built.campaign_id)
        url = reader_context(campaign, subscriber, delivery_id=built.deliveries[who])["unsubscribe_url"]
    path = url.split("://", 1)[1].partition("/")[2]
    response = client.post(f"/{path}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200


@pytest.fixture
def built(app: Flask, client: FlaskClient) -> Built:
    built = build(app)
    unsubscribe_through_message(app, client, built, "i")
    return built


EXPECTED = {
    "recipients": 12, "sent": 10, "failed": 1, "pending": 1, "suppressed": 0,
    "bounced": 3, "hard_bounced": 1, "soft_bounced": 2, "delivered": 7, "delivery_rate": 7 / 11,
    "unique_opens": 5, "machine_opens": 1, "open_rate": 5 / 7,
    "unique_clicks": 1, "machine_clicks": 1, "click_rate": 1 / 7, "click_to_open": 1 / 5,
    "unsubscribes": 1, "unsubscribe_rate": 1 / 7, "complaints": 1, "complaint_rate": 1 / 7,
    "conversions": 3, "converted": 2, "conversion_rate": 2 / 7, "revenue": 3980.0, "revenue_per_recipient": 3980 / 7,
    "currency": "JPY", "individual": True,
}


def test_every_definition_on_a_campaign_known_by_hand(app: Flask, built: Built) -> None:
    with app.app_context():
        found = campaign_metrics(built.campaign_id).as_dict()
    assert found == {"campaign_id": built.campaign_id, **EXPECTED}


def test_the_report_timeline_links_domains_clients_and_bounces(app: Flask, built: Built,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with app.app_context():
        report = campaign_report(built.campaign_id)
        assert report.metrics.as_dict() == {"campaign_id": built.campaign_id, **EXPECTED}
        start = T0.replace(minute=0)
        assert len(report.timeline) == 48 + 1  # 48 hours, then the day i opened in
        assert [(b.start, b.hours) for b in report.timeline[:2]] == [(start, 1), (start + timedelta(hours=1), 1)]
        assert (report.timeline[-1].start, report.timeline[-1].hours) == (start + timedelta(hours=48), 24)
        shown = {b.start: (b.opens, b.machine_opens, b.clicks, b.machine_clicks) for b in report.timeline
                 if (b.opens, b.machine_opens, b.clicks, b.machine_clicks) != (0, 0, 0, 0)}
        assert shown == {start: (1, 2, 0, 0), start + timedelta(hours=1): (1, 0, 0, 2),
                         start + timedelta(hours=2): (1, 0, 0, 0), start + timedelta(hours=5): (0, 0, 1, 0),
                         start + timedelta(hours=48): (1, 0, 0, 0)}
        assert [(x.url, x.clicks, x.unique_clicks, x.machine_clicks) for x in report.links] == [
            (SALE, 1, 1, 1), (NEW, 0, 0, 1)]
        assert [(d.domain, d.recipients, d.sent, d.bounced, d.opened, d.clicked) for d in report.domains] == [
            ("example.jp", 5, 3, 1, 1, 0), ("gmail.com", 4, 4, 1, 3, 1), ("icloud.com", 2, 2, 0, 1, 0),
            ("docomo.ne.jp", 1, 1, 1, 0, 0)]
        gmail, browser = client_and_device(GMAIL_PROXY), client_and_device(BROWSER)
        clients: dict[str, int] = {}
        for ua, opens in ((GMAIL_PROXY, 3), (BROWSER, 1)):
            clients[client_and_device(ua)[0] or "Other"] = clients.get(client_and_device(ua)[0] or "Other", 0) + opens
        assert {s.name: s.opens for s in report.clients} == clients
        assert sum(s.opens for s in report.devices) == 4 and gmail and browser
        assert [(b.email, b.type, b.sender_refused) for b in report.bounces] == [
            ("j@gmail.com", "complaint", False), ("e@example.jp", "soft", True), ("d@gmail.com", "soft", False),
            ("c@docomo.ne.jp", "hard", False)]
        monkeypatch.setattr(metrics, "TOP_DOMAINS", 2)
        report = build_report(db.session.get_one(Campaign, built.campaign_id))
        assert [(d.domain, d.recipients, d.sent, d.bounced, d.opened, d.clicked) for d in report.domains] == [
            ("example.jp", 5, 3, 1, 1, 0), ("gmail.com", 4, 4, 1, 3, 1), ("other", 3, 3, 1, 1, 0)]
        assert report.as_dict()["timeline"][0]["start"] == start.isoformat()
        # Revenue in every currency, the installation's first; the purchase whose amount was no number added none.
        assert report.as_dict()["revenue"] == [{"currency": "JPY", "amount": 3980.0},
                                               {"currency": "USD", "amount": 19.99}]
        assert report.as_dict()["no_revenue"] == [{"problem": "amount_not_a_number", "conversions": 1}]


def test_rates_are_none_with_nothing_to_divide_by(app: Flask) -> None:
    assert rate(0, 0) is None and rate(1, 4) == 0.25
    with app.app_context():
        campaign = Campaign(name="empty", subject="s", lists=[], status=CampaignStatus.RUNNING, started_at=T0)
        db.session.add(campaign)
        db.session.commit()
        found = campaign_metrics(campaign.id)
    assert found.recipients == 0 and found.delivery_rate is None and found.open_rate is None
    assert found.click_to_open is None and found.complaint_rate is None


def test_the_unsubscribe_link_credits_its_campaign_once_and_an_old_link_credits_none(
        app: Flask, client: FlaskClient) -> None:
    built = build(app)
    unsubscribe_through_message(app, client, built, "i")
    unsubscribe_through_message(app, client, built, "i")  # again: still one, at the first time
    with app.app_context():
        subscriber = db.session.scalars(select(Subscriber).where(Subscriber.email == "a@gmail.com")).one()
        token = public_links(subscriber)["unsubscribe"]  # a link from before deliveries were named
        assert all(s.status == SubscriptionStatus.UNSUBSCRIBED for s in subscriber.subscriptions)
    assert client.post(f"/u/{token}").status_code == 200
    with app.app_context():
        assert campaign_metrics(built.campaign_id).unsubscribes == 1
        assert db.session.scalar(select(Delivery.unsubscribed_at).where(
            Delivery.id == built.deliveries["a"])) is None


def test_leaving_lists_on_the_preferences_page_a_message_linked_to_credits_its_campaign(
        app: Flask, client: FlaskClient) -> None:
    built = build(app)
    with app.app_context():
        reader = db.session.scalars(select(Subscriber).where(Subscriber.email == READERS["i"][0])).one()
        campaign = db.session.get_one(Campaign, built.campaign_id)
        subscribe(reader, [db.session.get_one(MailingList, campaign.lists[0])], Consent(ConsentMethod.ADMIN))
        db.session.commit()
        url = reader_context(campaign, reader, delivery_id=built.deliveries["i"])["preferences_url"]
        kept = [str(campaign.lists[0])]
    path = "/" + url.split("://", 1)[1].partition("/")[2]

    def credited() -> bool:
        with app.app_context():
            return db.session.scalar(select(Delivery.unsubscribed_at).where(
                Delivery.id == built.deliveries["i"])) is not None

    client.post(path, data={"csrf_token": csrf_token(client, path), "l": kept})
    assert not credited()  # saved with the list still ticked: nothing left, nothing to credit
    client.post(path, data={"csrf_token": csrf_token(client, path)})  # the list unticked
    assert credited()
    with app.app_context():
        assert campaign_metrics(built.campaign_id).unsubscribes == 1


def test_cached_figures_follow_new_events_bounces_and_unsubscribes(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build(app)
    with app.app_context():
        assert campaign_report(built.campaign_id).metrics.unsubscribes == 0
        assert campaign_metrics(built.campaign_id).complaints == 1
    unsubscribe_through_message(app, client, built, "i")
    with app.app_context():  # within LIVE_SECONDS the cached figures are served, changed or not
        assert campaign_report(built.campaign_id).metrics.unsubscribes == 0
    monkeypatch.setattr(metrics_cache, "LIVE_SECONDS", 0.0)  # as if those seconds had passed
    with app.app_context():
        db.session.add(Bounce(email="a@gmail.com", campaign_id=built.campaign_id, delivery_id=built.deliveries["a"],
                              type=BounceType.HARD, source="smtp", status="5.1.1", diagnostic="", meta={}))
        db.session.commit()
        store_batch([Incoming(kind=EventKind.CLICK, delivery_id=built.deliveries["b"], link_id=built.links[NEW],
                          user_agent=BROWSER, ip=None, head=False, prefetch=False, stream_id="9000-0",
                          at=T0 + timedelta(hours=3))], app.config["KAIRAN"].tracking)
        db.session.commit()
        report = campaign_report(built.campaign_id)
    assert (report.metrics.unsubscribes, report.metrics.hard_bounced, report.metrics.unique_clicks) == (1, 2, 2)
    assert report.metrics.machine_opens == 0  # b's click made it a person's open


def test_figures_computed_while_a_campaign_ran_are_not_kept_once_it_finished(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build(app)
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id == built.campaign_id)
                           .values(status=CampaignStatus.RUNNING))
        db.session.commit()
        assert campaign_metrics(built.campaign_id).pending == 1
        # Its last message goes out (nothing marks a send), and it finishes.
        db.session.execute(update(Delivery).where(Delivery.campaign_id == built.campaign_id,
                                                  Delivery.status == DeliveryStatus.QUEUED)
                           .values(status=DeliveryStatus.SENT))
        db.session.execute(update(Campaign).where(Campaign.id == built.campaign_id)
                           .values(status=CampaignStatus.FINISHED))
        db.session.commit()
    monkeypatch.setattr(metrics_cache, "LIVE_SECONDS", 0.0)  # as if those seconds had passed
    with app.app_context():
        found = campaign_metrics(built.campaign_id)
        assert (found.pending, found.sent) == (0, 11)
        assert campaign_metrics(built.campaign_id) == found  # kept now: computed after it finished


def test_with_individual_tracking_off_events_count_and_the_flag_says_so(
        app: Flask, settings_env: dict[str, str]) -> None:
    built = build(app)
    private = create_app({**settings_env, "KAIRAN_TRACK_INDIVIDUALS": "off", "TESTING": True})
    with private.app_context():
        store_batch([Incoming(kind=kind, delivery_id=built.deliveries[who], link_id=built.links[SALE] if kind == "click"
                          else None, user_agent=ua, ip=None, head=False, prefetch=False, stream_id=f"{n}-1",
                          at=T0 + timedelta(hours=2))
                 for n, (who, kind, ua) in enumerate([("d", EventKind.OPEN, BROWSER), ("d", EventKind.OPEN, BROWSER),
                                                      ("e", EventKind.OPEN, APPLE_MPP),
                                                      ("e", EventKind.CLICK, BROWSER)])],
                private.config["KAIRAN"].tracking)
        db.session.commit()
        found = campaign_metrics(built.campaign_id)
        links = {x.url: (x.clicks, x.unique_clicks) for x in campaign_report(built.campaign_id).links}
    assert found.individual is False
    assert (found.unique_opens, found.machine_opens, found.unique_clicks) == (5 + 2, 1 + 1, 1 + 1)
    assert links[SALE] == (2, 2)


def test_compare_lists_recent_campaigns_newest_first(app: Flask, built: Built) -> None:
    with app.app_context():
        later = Campaign(name="四月号", subject="s", lists=[], status=CampaignStatus.FINISHED,
                         started_at=T0 + timedelta(days=30))
        db.session.add_all([later, Campaign(name="draft", subject="s", lists=[])])
        db.session.commit()
        rows = compare_campaigns(5)
    assert [r["name"] for r in rows] == ["四月号", "三月号"]
    assert rows[1]["open_rate"] == 5 / 7 and rows[0]["open_rate"] is None


# The API -------------------------------------------------------------------------------------------


def viewer(app: Flask) -> dict[str, str]:
    return {"Authorization": f"token {api_user(app, 'viewer', 'reader')}"}


def test_the_metrics_api_and_listmonk_campaign_counts(app: Flask, client: FlaskClient, built: Built) -> None:
    headers = viewer(app)
    answer = client.get(f"/api/campaigns/{built.campaign_id}/metrics", headers=headers)
    assert answer.status_code == 200
    assert answer.get_json()["data"] == {"campaign_id": built.campaign_id, **EXPECTED}
    report = client.get(f"/api/campaigns/{built.campaign_id}/report", headers=headers).get_json()["data"]
    assert report["links"][0] == {"url": SALE, "clicks": 1, "unique_clicks": 1, "machine_clicks": 1}
    assert client.get("/api/campaigns/999/metrics", headers=headers).status_code == 400
    listed = client.get("/api/campaigns", headers=headers).get_json()["data"]["results"]
    assert [(c["views"], c["clicks"], c["bounces"]) for c in listed] == [(5, 1, 3)]
    one = client.get(f"/api/campaigns/{built.campaign_id}", headers=headers).get_json()["data"]
    assert (one["views"], one["clicks"], one["bounces"]) == (5, 1, 3)
    compared = client.get("/api/campaigns/compare?limit=3", headers=headers).get_json()["data"]
    assert compared[0]["unique_opens"] == 5
    assert client.get("/api/campaigns/compare?limit=0", headers=headers).status_code == 400
    spec = client.get("/api/openapi.json").get_json()
    for path in ("/api/campaigns/{campaign_id}/metrics", "/api/campaigns/analytics/{kind}",
                 "/api/campaigns/{campaign_id}/report", "/api/campaigns/{campaign_id}/activity.csv"):
        assert path in spec["paths"], path
    assert "CampaignMetrics" in spec["components"]["schemas"]


def test_listmonk_analytics_shapes(app: Flask, client: FlaskClient, built: Built) -> None:
    headers = viewer(app)
    cid = built.campaign_id

    def get(kind: str, **args: Any) -> Any:
        return client.get(f"/api/campaigns/analytics/{kind}", headers=headers,
                          query_string={"id": cid, "from": "2026-03-01", "to": "2026-03-31", **args})

    # KAIRAN_TIMEZONE is Asia/Tokyo: 09:30 UTC on 2 March is 18:30 there; i's open (+60 h) is on 5 March.
    assert get("views").get_json() == {"data": [
        {"campaign_id": cid, "count": 3, "timestamp": "2026-03-02T00:00:00+09:00"},
        {"campaign_id": cid, "count": 1, "timestamp": "2026-03-05T00:00:00+09:00"}]}
    assert get("clicks").get_json() == {"data": [
        {"campaign_id": cid, "count": 1, "timestamp": "2026-03-02T00:00:00+09:00"}]}
    assert get("bounces").get_json() == {"data": [
        {"campaign_id": cid, "count": 3, "timestamp": "2026-03-02T00:00:00+09:00"}]}
    assert get("links").get_json() == {"data": [{"url": SALE, "count": 1}]}
    assert get("views", to="2026-03-02").get_json()["data"] == [
        {"campaign_id": cid, "count": 3, "timestamp": "2026-03-02T00:00:00+09:00"}]
    assert get("views", **{"from": "2026-04-01", "to": "2026-04-30"}).get_json() == {"data": []}
    assert get("views", **{"from": "yesterday"}).status_code == 400
    assert get("nothing").status_code == 400
    assert client.get("/api/campaigns/analytics/views?from=2026-03-01&to=2026-03-02", headers=headers
                      ).status_code == 400  # no id


# The CSV exports ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("users")
def test_the_csv_exports_in_utf8_and_cp932_with_formulas_defused(app: Flask, client: FlaskClient, built: Built) -> None:
    login(client, "viewer")
    utf8 = client.get(f"/campaigns/{built.campaign_id}/report.csv")
    assert utf8.status_code == 200 and utf8.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(utf8.data.decode("utf-8-sig"))))
    assert rows[0] == ["metric", "value"] and ["open_rate", "0.714286"] in rows and ["individual", "yes"] in rows
    assert ["delivery_rate", "0.636364"] in rows and ["unsubscribes", "1"] in rows
    assert [SALE, "1", "1", "1"] in rows and ["gmail.com", "4", "4", "1", "3", "1"] in rows
    activity = client.get(f"/campaigns/{built.campaign_id}/activity.csv?encoding=cp932")
    assert activity.status_code == 200 and not activity.data.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(activity.data.decode("cp932"))))
    assert len(table) == 12
    by_email = {row["email"]: row for row in table}
    assert by_email["c@docomo.ne.jp"]["bounce"] == "hard" and by_email["e@example.jp"]["bounce"] == "soft (sender)"
    assert by_email["j@gmail.com"]["complaint"] == "yes" and by_email["i@icloud.com"]["unsubscribed_at"]
    assert by_email["g@gmail.com"]["first_open_at"] == by_email["g@gmail.com"]["first_click_at"] != ""
    assert by_email["f@example.jp"]["status"] == "failed" and by_email["k@example.jp"]["sent_at"] == ""
    assert by_email["c@docomo.ne.jp"]["bounce_status"] == "5.0.1"
    # For Excel: the charset named is the one sent, times are local without microseconds, headers can be Japanese.
    assert activity.headers["Content-Type"] == "text/csv; charset=Windows-31J"
    assert utf8.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", by_email["g@gmail.com"]["first_open_at"])
    japanese = client.get(f"/campaigns/{built.campaign_id}/activity.csv?headers=ja").data.decode("utf-8-sig")
    assert japanese.startswith("メールアドレス,ステータス,送信日時,初回開封日時,初回クリック日時,バウンス,")
    reader = viewer(app)
    api_ja = client.get(f"/api/campaigns/{built.campaign_id}/activity.csv",
                        headers={**reader, "Accept-Language": "ja"}).data.decode("utf-8-sig")
    assert api_ja.startswith("email,status,sent_at,")  # the API keeps the column names unless asked
    for export in ("report", "activity"):  # another encoding is refused, naming the choices, not exported as UTF-8
        bad = client.get(f"/api/campaigns/{built.campaign_id}/{export}.csv?encoding=latin-1", headers=reader)
        assert bad.status_code == 400
        assert bad.get_json()["message"] == ("encoding must be one of: utf-8, cp932 "
                                             "(cp932 is Shift_JIS, for older Excel).")
    with app.app_context():  # an address and a link that a spreadsheet would run as formulas
        db.session.get(Link, built.links[NEW]).url = "=HYPERLINK(\"https://evil.example\")"  # type: ignore[union-attr]
        readers = db.session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        for subscriber, formula in zip(readers, FORMULAS, strict=False):  # straight in: no entry point takes them
            subscriber.email = formula
        db.session.commit()
    api = client.get(f"/api/campaigns/{built.campaign_id}/activity.csv", headers=reader)
    assert api.status_code == 200
    emails = [row["email"] for row in csv.DictReader(io.StringIO(api.data.decode("utf-8-sig")))]
    assert {"'" + formula for formula in FORMULAS} <= set(emails)
    report = build_csv_after_change(app, built.campaign_id)
    assert "'=HYPERLINK" in report


def build_csv_after_change(app: Flask, campaign_id: int) -> str:
    """The report CSV computed now (a link's URL is not a change the cache watches)."""
    from tracking.metrics_export import report_csv
    with app.app_context():
        report = build_report(db.session.get_one(Campaign, campaign_id))
        return b"".join(report_csv(report, "cp932")).decode("cp932")


@pytest.mark.usefixtures("users")
def test_the_report_page_shows_conversions_and_revenue_in_english(client: FlaskClient, built: Built) -> None:
    login(client, "viewer")
    html = client.get(f"/campaigns/{built.campaign_id}/report", headers={"Accept-Language": "en"}).get_data(True)
    assert re.search(r'data-kpi="conversion_rate">.*?data-value>28.6%<', html, re.DOTALL)  # 2 converted / 7
    assert re.search(r'data-kpi="revenue">.*?data-value>¥3,980<', html, re.DOTALL)
    text = text_of(html)
    assert "3 conversions · 2 people converted" in text and "¥569 per recipient" in text  # 3,980 / 7 delivered
    assert "Also $19.99" in text and "1 conversion without revenue: amount is not a number" in text
    dashboard = text_of(client.get("/", headers={"Accept-Language": "en"}).get_data(True))
    assert "Conversion rate" in dashboard and "¥3,980" in dashboard
