"""The campaign report, its live JSON and click map, the dashboard comparison and tracking's timeline entries.

A small campaign is really sent (RQ worker, capture SMTP); its readers open and click through the
real pixel and redirect, the flusher stores the events, and bounces arrive through bounces.record.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from core.db import db, utcnow
from lists.models import Subscriber
from mailer.models import Campaign, CampaignKind, CampaignStatus
from mailer.outbox import Outbox
from tests.helpers import api_user, login, text_of
from tests.tracking.small_campaign import NEW, SALE, Sent, behave, send_small_campaign
from tracking.metrics import campaign_metrics, campaign_report
from tracking.report_views import percent


@pytest.fixture
def sent(app: Flask, client: FlaskClient, capture: Outbox, users: dict[str, str]) -> Sent:
    """The small campaign, sent, with its readers' opens, clicks, bounce and complaint recorded."""
    campaign = send_small_campaign(app, client, capture)
    behave(app, client, campaign)
    return campaign


def test_the_service_counts_what_happened(app: Flask, sent: Sent) -> None:
    with app.test_request_context():
        m = campaign_metrics(sent.campaign_id)
    assert (m.recipients, m.sent, m.bounced, m.hard_bounced, m.delivered) == (5, 5, 1, 1, 4)
    assert (m.unique_opens, m.machine_opens, m.unique_clicks, m.complaints, m.unsubscribes) == (2, 1, 2, 1, 1)
    assert (m.delivery_rate, m.open_rate, m.click_rate) == (0.8, 0.5, 0.5)


@pytest.mark.parametrize("role", ["admin", "editor", "viewer"])
def test_every_role_reads_the_report_with_the_services_numbers(app: Flask, client: FlaskClient, sent: Sent,
                                                              role: str) -> None:
    login(client, role)
    page = client.get(f"/campaigns/{sent.campaign_id}/report")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with app.test_request_context():
        report = campaign_report(sent.campaign_id)
        m = report.metrics
        rates = {key: percent(getattr(m, key)) for key in ("delivery_rate", "open_rate", "click_rate", "click_to_open")}
    for key, shown in rates.items():
        assert re.search(rf'data-kpi="{key}">.*?data-value>{re.escape(shown)}<', html, re.DOTALL), key
    assert rates["delivery_rate"] == "80.0%" and rates["click_to_open"] == "100.0%"
    text = text_of(html)
    assert f"{m.delivered} delivered of {m.sent + m.failed} tried" in text
    assert f"Messages only machines opened, not counted: {m.machine_opens}" in text
    assert "au, SoftBank" in text  # carriers that send no bounce for some rejections
    for link in report.links:
        assert re.search(rf'<tr data-url="{re.escape(link.url.replace("&", "&amp;"))}">.*?>{link.clicks}<', html,
                         re.DOTALL)
    assert '<tr data-domain="gmail.com">' in html and '<tr data-domain="docomo.ne.jp">' in html
    assert "550 unknown user" in html and "5.1.1" in html  # the recent bounce, with its reason
    assert f'src="/campaigns/{sent.campaign_id}/clickmap.html"' in html and "<canvas" in html
    assert 'data-live="false"' in html  # finished: no polling
    assert re.search(r'data-kpi="unsubscribes">.*?data-value>1<', html, re.DOTALL)
    for path in (f"/campaigns/{sent.campaign_id}/report.csv?encoding=utf-8",
                 f"/campaigns/{sent.campaign_id}/activity.csv?encoding=cp932"):
        assert f'href="{path.replace("&", "&amp;")}"' in html
        assert client.get(path).status_code == 200

    answer = client.get(f"/campaigns/{sent.campaign_id}/report.json")
    assert answer.status_code == 200
    data = answer.get_json()
    assert data["data"]["metrics"] == m.as_dict() and data["data"]["status"] == "finished"
    assert data["data"]["live"] is False and set(data["parts"]) >= {"headline", "links", "domains", "bounces"}
    assert sum(bucket["opens"] for bucket in data["data"]["timeline"]) == 1  # ann's; ben's click is no pixel
    assert sum(bucket["machine_opens"] for bucket in data["data"]["timeline"]) == 1


def test_the_report_needs_a_login_and_a_known_campaign(client: FlaskClient, sent: Sent) -> None:
    for path in ("report", "report.json", "clickmap.html"):
        response = client.get(f"/campaigns/{sent.campaign_id}/{path}")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(client, "viewer")
    assert client.get("/campaigns/999999/report").status_code in (400, 404)


def test_the_click_map_badges_each_link_in_a_sandbox(app: Flask, client: FlaskClient, sent: Sent) -> None:
    login(client, "viewer")
    response = client.get(f"/campaigns/{sent.campaign_id}/clickmap.html")
    assert response.status_code == 200
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    badges = re.findall(r'<a [^>]*href="([^"]+)"[^>]*data-kairan-link="\d+"[^>]*>'
                        r'<span class="kairan-badge"[^>]*data-clicks="(\d+)">([^<]*)</span>', html)
    assert [(url.replace("&amp;", "&"), clicks, words) for url, clicks, words in badges] == [
        (SALE, "1", "1 · 50%"), (NEW, "1", "1 · 50%")]
    assert "kairan-link:" not in html  # every marker became its real URL
    assert "/u/" in html  # the unsubscribe link is there, unbadged


def test_a_running_campaign_is_live(app: Flask, client: FlaskClient, sent: Sent) -> None:
    with app.app_context():
        db.session.execute(update(Campaign).values(status="running"))
        db.session.commit()
    login(client, "viewer")
    html = client.get(f"/campaigns/{sent.campaign_id}/report").get_data(as_text=True)
    assert 'data-live="true"' in html and "data-live-note" in html
    assert client.get(f"/campaigns/{sent.campaign_id}/report.json").get_json()["data"]["live"] is True


def test_the_dashboard_compares_recent_campaigns(app: Flask, client: FlaskClient, sent: Sent) -> None:
    with app.app_context():  # started after the campaign, but listed with its automation, not with the campaigns
        message = Campaign(name="購入後リマインド: インクのご案内", subject="s", lists=[], kind=CampaignKind.AUTOMATION,
                           status=CampaignStatus.RUNNING, started_at=utcnow())
        db.session.add(message)
        db.session.commit()
        message_id = message.id
    login(client, "viewer")
    html = client.get("/").get_data(as_text=True)
    row = re.search(rf'<tr data-campaign-id="{sent.campaign_id}">(.*?)</tr>', html, re.DOTALL)
    assert row, "the campaign is not compared"
    assert f'data-campaign-id="{message_id}"' not in html and "購入後リマインド" not in html
    assert f'href="/campaigns/{sent.campaign_id}/report"' in row[1]
    assert re.search(r'data-rate="delivery_rate">.*?80\.0%', row[1], re.DOTALL)
    assert re.search(r'data-rate="open_rate">.*?50\.0%', row[1], re.DOTALL)


def test_the_campaign_pages_link_to_the_report(client: FlaskClient, sent: Sent) -> None:
    login(client, "viewer")
    report = f'href="/campaigns/{sent.campaign_id}/report"'
    assert report in client.get("/campaigns/").get_data(as_text=True)
    assert report in client.get(f"/campaigns/{sent.campaign_id}/preview").get_data(as_text=True)
    assert report in client.get(f"/campaigns/{sent.campaign_id}", follow_redirects=True).get_data(as_text=True)


def _timeline(app: Flask, client: FlaskClient, email: str) -> str:
    with app.app_context():
        subscriber_id = db.session.scalar(select(Subscriber.id).where(Subscriber.email == email))
    html = client.get(f"/subscribers/{subscriber_id}").get_data(as_text=True)
    found = re.search(r'<ol class="timeline">(.*?)</ol>', html, re.DOTALL)
    assert found, email
    return found[1]


def test_the_subscriber_timeline_shows_sends_opens_clicks_bounces_and_complaints(
        app: Flask, client: FlaskClient, sent: Sent) -> None:
    login(client, "viewer")
    report = f'href="/campaigns/{sent.campaign_id}/report"'
    ann = _timeline(app, client, "ann@gmail.com")
    assert ann.count(report) == 3  # sent, opened, clicked: each links to the campaign
    assert "Sent “計測”" in ann and "Opened “計測”" in ann and "Clicked a link in “計測”" in ann
    assert SALE.replace("&", "&amp;") in ann and "Gmail" in ann
    assert ann.index("Clicked a link") < ann.index("Opened “計測”") < ann.index("Sent “計測”")  # newest first
    assert "Subscribed to お知らせ" in ann  # lists' own entries stay
    cat = _timeline(app, client, "cat@icloud.com")
    assert "A machine opened “計測”" in cat and "Apple Mail Privacy Protection" in cat and "event-machine-open" in cat
    dan = _timeline(app, client, "dan@docomo.ne.jp")
    assert "Hard bounce of “計測”" in dan and "5.1.1 · 550 unknown user" in dan
    eve = _timeline(app, client, "eve@docomo.ne.jp")
    assert "Marked “計測” as spam" in eve
    ben = _timeline(app, client, "ben@gmail.com")
    assert "Unsubscribed through “計測”" in ben and "Unsubscribed from お知らせ" in ben


def test_timeline_sources_keep_to_the_limit_newest_first(app: Flask, sent: Sent) -> None:
    from tracking import timeline

    with app.test_request_context():
        ann = db.session.scalar(select(Subscriber.id).where(Subscriber.email == "ann@gmail.com"))
        assert ann is not None
        events = timeline.engagement_events(ann, 1)
        assert [event.kind for event in events] == ["click"]
        assert [event.kind for event in timeline.engagement_events(ann, 10)] == ["click", "open"]
        assert timeline.send_events(ann, 10)[0].kind == "sent"


def test_a_campaign_not_sent_yet_has_an_empty_report(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    headers = {"Authorization": f"token {api_user(app, 'editor', 'writer')}"}
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "下書き", "subject": "まだ", "content_type": "html", "lists": [],
        "body": f'<p><a href="{NEW}">新着</a></p>'}).get_json()["data"]
    login(client, "viewer")
    html = client.get(f"/campaigns/{campaign['id']}/report").get_data(as_text=True)
    assert re.search(r'data-kpi="open_rate">.*?data-value>—<', html, re.DOTALL)  # no denominator yet
    assert "No opens or clicks yet." in html and "Nothing sent yet." in html
    badge = re.search(r'data-clicks="0">0</span>', client.get(f"/campaigns/{campaign['id']}/clickmap.html")
                      .get_data(as_text=True))
    assert badge, "the link has its badge, at zero"
    assert f'href="/campaigns/{campaign["id"]}/report"' not in client.get("/campaigns/").get_data(as_text=True)
