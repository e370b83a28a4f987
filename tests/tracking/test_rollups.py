"""The rollups the report reads equal a recomputation from the raw rows, after every kind of flush.

Events go through the flusher's real insert (tracking/flush.py); the recomputation is
tracking.rollups.rebuild, grouped SQL over deliveries and events. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, event, func, insert, or_, select, update

from app import create_app
from core.db import db
from lists.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryCount, DeliveryStatus
from mailer.queries import materialise, settle
from mailer.sending import reconcile
from tests.tracking.helpers import APPLE_MPP, BROWSER, GMAIL_PROXY, SCANNER
from tests.tracking.known_campaign import NEW, SALE, T0, Built, build
from tracking import classify, rollups
from tracking.classify import Evidence
from tracking.event_batch import Incoming, store_batch
from tracking.flush import reclassify
from tracking.metrics import build_report, campaign_metrics, campaign_report
from tracking.models import CampaignAudience, EventKind
from tracking.tallies import count_audiences, running_tallies, tallies

Event = tuple[str, EventKind, str | None, str, timedelta]  # reader, kind, link, UA, after T0


def snapshot(campaign_id: int) -> dict[str, Any]:
    """Every rollup row of a campaign with a count, as plain values (a row of zeros counts nothing)."""
    found = {}
    for model in rollups.TABLES:
        table = model.__table__
        counters = [c for c in table.c if not c.primary_key and c.name != "campaign_id"]
        rows = db.session.execute(select(table).where(table.c.campaign_id == campaign_id,
                                                      or_(*(c != 0 for c in counters))))
        found[table.name] = sorted(tuple(row) for row in rows)
    return found


def recomputed(campaign_id: int) -> dict[str, Any]:
    """The rollups rebuild computes from the raw rows now (undone afterwards)."""
    db.session.commit()
    rollups.rebuild([campaign_id])
    fresh = snapshot(campaign_id)
    db.session.rollback()
    return fresh


def flush(app: Flask, built: Built, events: Sequence[Event], first: int) -> None:
    """Store a batch through the flusher, as one stream read."""
    store_batch([Incoming(kind=kind, delivery_id=built.deliveries[who], link_id=built.links[url] if url else None,
                      user_agent=ua, ip="192.0.2.1", head=False, prefetch=False, stream_id=f"{first + n}-0",
                      at=T0 + after)
             for n, (who, kind, url, ua, after) in enumerate(events)], app.config["KAIRAN"].tracking)
    db.session.commit()


def assert_rollups_recompute(campaign_id: int) -> dict[str, Any]:
    kept = snapshot(campaign_id)
    assert kept == recomputed(campaign_id)
    return kept


def test_rollups_equal_a_recomputation_after_each_flush_and_a_reclassify(
        app: Flask, settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    built = build(app)  # Apple's prefetch then a person's open (l), a click without an open (g), a scanner (h)
    cid = built.campaign_id
    with app.app_context():
        kept = assert_rollups_recompute(cid)
        totals = dict(zip(("opened", "clicked", "machine_opened", "machine_clicked"),
                          kept["campaign_totals"][0][1:5], strict=True))
        assert totals == {"opened": 5, "clicked": 1, "machine_opened": 1, "machine_clicked": 1}
        # b: only Apple's prefetch so far; a person's open in a later batch moves it from machine to person.
        flush(app, built, [("b", EventKind.OPEN, None, BROWSER, timedelta(hours=3))], 2000)
        metrics = build_report(db.session.get_one(Campaign, cid)).metrics
        assert (metrics.unique_opens, metrics.machine_opens) == (6, 0)
        assert_rollups_recompute(cid)
        # d: a click without an open, then another link clicked within the same second: a scanner after
        # all, and the first click, stored as a person's, is taken back.
        flush(app, built, [("d", EventKind.CLICK, SALE, BROWSER, timedelta(hours=4))], 2100)
        assert build_report(db.session.get_one(Campaign, cid)).metrics.unique_clicks == 2
        assert_rollups_recompute(cid)
        flush(app, built, [("d", EventKind.CLICK, NEW, BROWSER, timedelta(hours=4, milliseconds=300))], 2200)
        report = build_report(db.session.get_one(Campaign, cid))
        assert (report.metrics.unique_opens, report.metrics.unique_clicks, report.metrics.machine_clicks) == (6, 1, 2)
        assert [(x.url, x.clicks, x.unique_clicks, x.machine_clicks) for x in report.links] == [
            (SALE, 1, 1, 2), (NEW, 0, 0, 2)]
        assert_rollups_recompute(cid)
        # The same stream entries flushed again add nothing; a mixed batch of several readers at once.
        flush(app, built, [("d", EventKind.CLICK, NEW, BROWSER, timedelta(hours=4, milliseconds=300))], 2200)
        flush(app, built, [("e", EventKind.OPEN, None, APPLE_MPP, timedelta(hours=5)),
                           ("e", EventKind.OPEN, None, GMAIL_PROXY, timedelta(hours=6)),
                           ("h", EventKind.OPEN, None, SCANNER, timedelta(hours=5)),
                           ("a", EventKind.CLICK, NEW, BROWSER, timedelta(days=4))], 2300)
        assert_rollups_recompute(cid)
    private = create_app({**settings_env, "KAIRAN_TRACK_INDIVIDUALS": "off", "TESTING": True})
    with private.app_context():  # events naming nobody
        flush(private, built, [("f", EventKind.OPEN, None, BROWSER, timedelta(hours=7)),
                               ("f", EventKind.CLICK, SALE, BROWSER, timedelta(hours=7)),
                               ("f", EventKind.OPEN, None, APPLE_MPP, timedelta(hours=7))], 2400)
        assert_rollups_recompute(cid)
    with app.app_context():
        before = build_report(db.session.get_one(Campaign, cid))

        def gmail_is_a_machine(event: Evidence) -> bool | None:  # as if the rules had changed
            return False if "GoogleImageProxy" in event.user_agent else None

        monkeypatch.setattr(classify, "RULES", (gmail_is_a_machine, *classify.RULES))
        reclassify()
        after = build_report(db.session.get_one(Campaign, cid))
        # j, l and e opened only through Gmail's proxy: machines' opens now (a clicked too, so still a person).
        assert before.metrics.unique_opens - after.metrics.unique_opens == 3
        assert after.metrics.machine_opens == before.metrics.machine_opens + 3
        assert_rollups_recompute(cid)
        flush(app, built, [("j", EventKind.CLICK, SALE, BROWSER, timedelta(days=5))], 2500)  # and on from there
        assert_rollups_recompute(cid)


def test_materialise_fixes_each_recipients_domain(app: Flask) -> None:
    with app.app_context():
        mailing = MailingList(name="list")
        db.session.add(mailing)
        db.session.flush()
        for email in ("taro..x.@docomo.ne.jp", "hanako@example.co.jp"):
            person = Subscriber(email=email, email_key=email, name="", attribs={})
            db.session.add(person)
            db.session.flush()
            db.session.add(Subscription(subscriber_id=person.id, list_id=mailing.id,
                                        status=SubscriptionStatus.CONFIRMED))
        campaign = Campaign(name="c", subject="s", lists=[mailing.id])
        db.session.add(campaign)
        db.session.flush()
        assert materialise(campaign.id, [mailing.id]) == 2
        domains = db.session.scalars(select(Delivery.domain).where(Delivery.campaign_id == campaign.id))
        assert sorted(str(domain) for domain in domains) == ["docomo.ne.jp", "example.co.jp"]


def test_a_finished_campaigns_settled_counts_give_the_report_the_index_gives(app: Flask) -> None:
    built = build(app)
    with app.app_context():
        campaign = db.session.get_one(Campaign, built.campaign_id)
        live = build_report(campaign)
        settle(built.campaign_id)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(DeliveryCount)) == 6  # (state, domain) pairs
        settled = build_report(campaign)
    assert (settled.metrics, settled.domains) == (live.metrics, live.domains)


def _index_tallies(campaign_id: int) -> list[tuple[Any, ...]]:
    """Every state and domain of a campaign's deliveries, counted from the index (the definition)."""
    rows = tallies([campaign_id])[campaign_id]
    return sorted((status.value, domain or "", number) for status, domain, number in rows)


def _reported(campaign_id: int) -> list[tuple[Any, ...]]:
    return sorted((status.value, domain or "", number) for status, domain, number in running_tallies(campaign_id))


def test_a_running_campaigns_counts_from_its_audience_equal_the_index(app: Flask) -> None:
    """The largest state is the audience minus the others: early (queued), late (sent), and as states move."""
    with app.app_context():
        campaign = Campaign(name="c", subject="s", lists=[], status=CampaignStatus.RUNNING, started_at=T0)
        db.session.add(campaign)
        db.session.flush()
        domains = ["gmail.com", "docomo.ne.jp", None]  # None: a delivery inserted without a subscriber
        db.session.execute(insert(Delivery), [{"campaign_id": campaign.id, "subscriber_id": None,
                                               "domain": domains[n % 3], "status": DeliveryStatus.QUEUED}
                                              for n in range(30)])
        db.session.commit()
        cid = campaign.id
        assert _reported(cid) == _index_tallies(cid)  # no audience yet: all from the index
        assert count_audiences() == 1
        audience = sorted(db.session.execute(select(CampaignAudience.domain, CampaignAudience.deliveries)))
        assert audience == [("", 10), ("docomo.ne.jp", 10), ("gmail.com", 10)]  # '' for no domain
        ids = list(db.session.scalars(select(Delivery.id).where(Delivery.campaign_id == cid).order_by(Delivery.id)))
        moves = [(ids[:4], DeliveryStatus.SENT), (ids[4:6], DeliveryStatus.SENDING),  # early: queued is derived
                 (ids[6:22], DeliveryStatus.SENT), (ids[22:24], DeliveryStatus.FAILED),  # late: sent is derived
                 (ids[24:25], DeliveryStatus.SUPPRESSED), (ids[4:6], DeliveryStatus.SENT),
                 (ids[25:], DeliveryStatus.SENT)]  # none queued any more
        for moved, status in moves:
            db.session.execute(update(Delivery).where(Delivery.id.in_(moved)).values(status=status))
            db.session.commit()
            assert _reported(cid) == _index_tallies(cid), status
        assert count_audiences() == 0  # counted once
        assert sorted(db.session.execute(select(CampaignAudience.domain, CampaignAudience.deliveries))) == audience


def test_a_report_writes_nothing_and_the_send_reconciler_counts_the_audience(app: Flask) -> None:
    """Reports are reads (no statement but SELECT, however cold): the audience a running campaign's report
    subtracts from is counted by the send reconciler, once."""
    built = build(app)
    cid = built.campaign_id
    with app.app_context():
        db.session.execute(delete(DeliveryCount))  # as while it runs: counted from the index
        db.session.commit()
        expected = _index_tallies(cid)
        statements: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement.lstrip().split(None, 1)[0].upper())

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            campaign = db.session.get_one(Campaign, cid)
            report = build_report(campaign)
            cached = campaign_report(cid)  # through the cache, as the page and the API read it
            assert (cached.metrics, cached.domains, campaign_metrics(cid)) == (report.metrics, report.domains,
                                                                              report.metrics)
            assert _reported(cid) == expected
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert statements and set(statements) <= {"SELECT", "WITH"}
        assert db.session.scalar(select(func.count()).select_from(CampaignAudience)) == 0
        reconcile()
        assert db.session.scalar(select(func.count()).select_from(CampaignAudience)) == 4  # one row a domain
        assert _reported(cid) == expected and build_report(campaign).domains == report.domains
        reconcile()
        assert db.session.scalar(select(func.count()).select_from(CampaignAudience)) == 4
