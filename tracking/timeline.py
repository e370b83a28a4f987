"""Tracking's touchpoints on a subscriber's timeline: sends, opens and clicks, bounces and complaints.

Each source reads at most ``limit`` rows, newest first, starting from the subscriber's deliveries
(uq_deliveries_subscriber_id) or bounces (ix_bounces_subscriber_id), so a subscriber with years of
mail costs a few index lookups, not a scan of every event.
"""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from core.db import db
from core.timeline import TimelineEvent
from mailer.models import Campaign, Delivery, DeliveryStatus, Link
from tracking.labels import machine_rule
from tracking.models import Bounce, BounceType, EventKind, TrackingEvent


def _report_url(campaign_id: int | None) -> str:
    return url_for("report.campaign", campaign_id=campaign_id) if campaign_id is not None else ""


def send_events(subscriber_id: int, limit: int) -> list[TimelineEvent]:
    """Return the subscriber's campaign messages that were sent or failed, newest first."""
    # A message refused at once keeps no time of its own: its campaign's audience was fixed at created_at.
    at = func.coalesce(Delivery.sent_at, Delivery.first_failed_at, Delivery.created_at)
    rows = db.session.execute(
        select(at, Delivery.status, Delivery.smtp_reply, Campaign.id, Campaign.name)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status.in_([DeliveryStatus.SENT,
                                                                            DeliveryStatus.FAILED]))
        .order_by(at.desc(), Delivery.id.desc()).limit(limit))
    return [TimelineEvent(at=when, kind="sent" if status == DeliveryStatus.SENT else "failed",
                          title=(_("Sent “%(campaign)s”", campaign=name) if status == DeliveryStatus.SENT
                                 else _("Could not send “%(campaign)s”", campaign=name)),
                          detail=(reply or "") if status == DeliveryStatus.FAILED else "",
                          url=_report_url(campaign_id))
            for when, status, reply, campaign_id, name in rows]


def engagement_events(subscriber_id: int, limit: int) -> list[TimelineEvent]:
    """Return the subscriber's opens and clicks, newest first; a machine's are marked as such."""
    rows = db.session.execute(
        select(TrackingEvent.at, TrackingEvent.kind, TrackingEvent.human, TrackingEvent.rule, TrackingEvent.client,
               TrackingEvent.device, Link.url, Campaign.id, Campaign.name)
        .join(Delivery, Delivery.id == TrackingEvent.delivery_id)
        .join(Campaign, Campaign.id == TrackingEvent.campaign_id)
        .outerjoin(Link, Link.id == TrackingEvent.link_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(TrackingEvent.at.desc(), TrackingEvent.id.desc()).limit(limit))
    events = []
    for at, kind, human, rule, client, device, url, campaign_id, name in rows:
        click = kind == EventKind.CLICK
        if human:
            title = (_("Clicked a link in “%(campaign)s”", campaign=name) if click
                     else _("Opened “%(campaign)s”", campaign=name))
        else:
            title = (_("A machine clicked a link in “%(campaign)s”", campaign=name) if click
                     else _("A machine opened “%(campaign)s”", campaign=name))
        parts = [url or "", machine_rule(rule) if not human else "", client or "", device or ""]
        events.append(TimelineEvent(at=at, kind=("" if human else "machine-") + ("click" if click else "open"),
                                    title=title, detail=" · ".join(part for part in parts if part),
                                    url=_report_url(campaign_id)))
    return events


def bounce_events(subscriber_id: int, limit: int) -> list[TimelineEvent]:
    """Return the subscriber's bounces and complaints with their reasons, newest first."""
    rows = db.session.execute(
        select(Bounce, Campaign.name).outerjoin(Campaign, Campaign.id == Bounce.campaign_id)
        .where(Bounce.subscriber_id == subscriber_id)
        .order_by(Bounce.created_at.desc(), Bounce.id.desc()).limit(limit))
    events = []
    for bounce, name in rows:
        if bounce.type == BounceType.COMPLAINT:
            title = _("Marked “%(campaign)s” as spam", campaign=name) if name else _("Marked a message as spam")
        elif bounce.sender_refused:
            title = (_("“%(campaign)s” was refused because of the sender", campaign=name) if name
                     else _("A message was refused because of the sender"))
        elif bounce.type == BounceType.HARD:
            title = _("Hard bounce of “%(campaign)s”", campaign=name) if name else _("Hard bounce")
        else:
            title = _("Soft bounce of “%(campaign)s”", campaign=name) if name else _("Soft bounce")
        detail = " · ".join(part for part in (bounce.status, bounce.diagnostic, bounce.source) if part)
        events.append(TimelineEvent(at=bounce.created_at, kind=f"bounce-{bounce.type.value}", title=title,
                                    detail=detail, url=_report_url(bounce.campaign_id if name else None)))
    return events


def unsubscribe_events(subscriber_id: int, limit: int) -> list[TimelineEvent]:
    """Return the campaigns the subscriber unsubscribed through (the lists they left are lists' events)."""
    rows = db.session.execute(
        select(Delivery.unsubscribed_at, Campaign.id, Campaign.name)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.unsubscribed_at.is_not(None))
        .order_by(Delivery.unsubscribed_at.desc(), Delivery.id.desc()).limit(limit))
    return [TimelineEvent(at=at, kind="unsubscribed-campaign", title=_("Unsubscribed through “%(campaign)s”",
                                                                      campaign=name), url=_report_url(campaign_id))
            for at, campaign_id, name in rows if at is not None]
