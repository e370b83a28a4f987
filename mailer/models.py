"""Email layouts (templates), campaigns as far as composing needs them, tracked links and media."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Timestamped, db, new_uuid, str_enum, utcnow
from lists.models import Subscriber
from mailer.throttle import receiving_domain


class TemplateType(StrEnum):
    """listmonk's kinds: a campaign layout wraps a body; a transactional template is the whole mail."""

    CAMPAIGN = "campaign"
    TX = "tx"


class Template(Timestamped, db.Model):  # type: ignore[name-defined]
    """A layout in Kairan's Jinja (listmonk syntax is translated when it is saved)."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[TemplateType] = mapped_column(str_enum(TemplateType), default=TemplateType.CAMPAIGN)
    subject: Mapped[str] = mapped_column(String(500), default="")  # transactional templates only
    body: Mapped[str] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(default=False)


class ContentType(StrEnum):
    """How a campaign body is written; listmonk's values plus the visual block editor."""

    VISUAL = "visual"
    RICHTEXT = "richtext"
    HTML = "html"
    MARKDOWN = "markdown"
    PLAIN = "plain"


class CampaignStatus(StrEnum):
    """listmonk's lifecycle; composing only ever sees drafts (the send issue moves them on)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class CampaignKind(StrEnum):
    """A newsletter an editor sends, or an automation's message, sent one reader at a time as runs reach it."""

    REGULAR = "regular"
    AUTOMATION = "automation"  # running while its automation is active; never finishes by itself; not listed


class Campaign(Timestamped, db.Model):  # type: ignore[name-defined]
    """A newsletter: subject, body in its layout, audience. Sending fields arrive with the send issue."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    from_email: Mapped[str] = mapped_column(String(320), default="")
    preheader: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[CampaignStatus] = mapped_column(str_enum(CampaignStatus), default=CampaignStatus.DRAFT)
    kind: Mapped[CampaignKind] = mapped_column(str_enum(CampaignKind), default=CampaignKind.REGULAR)
    content_type: Mapped[ContentType] = mapped_column(str_enum(ContentType), default=ContentType.VISUAL)
    body: Mapped[str] = mapped_column(Text, default="")  # Kairan Jinja: HTML, Markdown or text
    body_source: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the visual editor's project, to reopen it
    altbody: Mapped[str | None] = mapped_column(Text)  # a hand-written plain part; derived from HTML when empty
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    template: Mapped[Template | None] = relationship()
    lists: Mapped[list[int]] = mapped_column(JSON, default=list)  # list ids of the audience
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    headers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(10), default="ja")  # of the layout's fixed wording
    charset: Mapped[str] = mapped_column(String(20), default="utf-8")  # or iso-2022-jp for old Japanese phones
    archive: Mapped[bool] = mapped_column(default=False)  # a public web version
    archive_slug: Mapped[str | None] = mapped_column(String(200), unique=True)
    send_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    to_send: Mapped[int] = mapped_column(default=0)  # recipients fixed when it started
    rate_per_minute: Mapped[int | None]  # slower than the global limit when set
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "22:00": no sending from then …
    quiet_end: Mapped[str | None] = mapped_column(String(5))  # … until "08:00", in the UI's timezone
    # Each recipient's message at the hour they usually open, within a day of the start (tracking/send_times.py).
    send_time_optimised: Mapped[bool] = mapped_column(default=False, server_default=false())
    notice: Mapped[str | None] = mapped_column(Text)  # why it paused itself, or a sender-side rejection to look at
    # The law's sender details, fixed when it is scheduled or started so every worker machine prints the same
    # footer (mailer/campaigns.py sender_fields); None before that, and on campaigns started before 0024.
    sender_name: Mapped[str | None] = mapped_column(String(500))
    sender_address: Mapped[str | None] = mapped_column(String(500))
    sender_contact: Mapped[str | None] = mapped_column(String(500))
    # A resend to non-openers (mailer/resends.py): the campaign it follows up, at most one resend each. Its
    # audience is that campaign's recipients who neither opened nor clicked, fixed when it starts.
    resend_of: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), unique=True)
    resend_machine_openers: Mapped[bool] = mapped_column(default=False)  # whether those only machines opened get it


class WinnerMeasure(StrEnum):
    """What decides an A/B test's winner: people's unique opens or clicks (machines never count), or conversions."""

    OPENS = "opens"
    CLICKS = "clicks"
    CONVERSIONS = "conversions"  # purchase events attributed to the campaign (tracking/ab_results.py)


class ABTest(db.Model):  # type: ignore[name-defined]
    """A campaign's A/B test (mailer/ab.py): its variants are tried on a share of the audience for a while, then the
    rest is sent the winner. A share of 100 % is a plain split: every recipient gets a variant, no winner phase."""

    __tablename__ = "ab_tests"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    test_share: Mapped[int]  # percent of the audience in the test phase: 10–50, or 100
    wait_hours: Mapped[int]  # 1–72: how long the test phase runs before the winner is chosen
    measure: Mapped[WinnerMeasure] = mapped_column(str_enum(WinnerMeasure), default=WinnerMeasure.OPENS)
    manual: Mapped[bool] = mapped_column(default=False)  # the editor chooses the winner by hand
    # The assignment's key (mailer/ab.py bucket_of): drawn once, so a subscriber's variant never changes.
    key_a: Mapped[int] = mapped_column(BigInteger)
    key_b: Mapped[int] = mapped_column(BigInteger)
    decide_at: Mapped[datetime | None]  # set when the test phase starts
    winner: Mapped[int | None]  # the winning variant's position, once chosen
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))  # "auto", or the user who chose
    variants: Mapped[list[Variant]] = relationship(order_by="Variant.position", cascade="all, delete-orphan",
                                                   passive_deletes=True)


class Variant(db.Model):  # type: ignore[name-defined]
    """One version of an A/B-tested campaign (A, B, …): each field left empty is the campaign's own."""

    __tablename__ = "campaign_variants"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ab_tests.campaign_id", ondelete="CASCADE"))
    position: Mapped[int]  # 1 for A, 2 for B, …: what deliveries.variant holds
    subject: Mapped[str | None] = mapped_column(String(500))
    from_name: Mapped[str | None] = mapped_column(String(200))  # the name before the campaign's From address
    preheader: Mapped[str | None] = mapped_column(String(300))
    content_type: Mapped[ContentType | None] = mapped_column(str_enum(ContentType))  # set with its own body
    body: Mapped[str | None] = mapped_column(Text)
    body_source: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    altbody: Mapped[str | None] = mapped_column(Text)


class DeliveryStatus(StrEnum):
    """One recipient's message: waiting, being sent under a lease, and how it ended."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"  # suppressed or unsubscribed after the audience was fixed


def _subscriber_domain(context: Any) -> str | None:
    """A delivery inserted one at a time (not by materialise) takes its subscriber's receiving domain."""
    subscriber_id = context.get_current_parameters().get("subscriber_id")
    if subscriber_id is None:
        return None
    email_key = context.connection.scalar(select(Subscriber.email_key).where(Subscriber.id == subscriber_id))
    return receiving_domain(email_key) if email_key else None


class Delivery(db.Model):  # type: ignore[name-defined]
    """One recipient of a campaign: the audience is fixed when the campaign starts (mailer/queries.py)."""

    __tablename__ = "deliveries"
    # Unique per campaign and subscriber, led by the subscriber: the timeline and the wipe look deliveries
    # up by subscriber, and one index serving both keeps a million-row audience's insert cheaper.
    # run_id too: an automation's message goes to a subscriber once per run (a shop's every order starts one).
    __table_args__ = (UniqueConstraint("subscriber_id", "campaign_id", "run_id"),
                      # The report counts recipients by status and receiving domain from this index alone.
                      Index("ix_deliveries_campaign_status_domain", "campaign_id", "status", "domain"),
                      # Unsubscribes through a campaign are few: counted from this small index.
                      Index("ix_deliveries_campaign_unsubscribed", "campaign_id",
                            postgresql_where=text("unsubscribed_at IS NOT NULL"),
                            sqlite_where=text("unsubscribed_at IS NOT NULL")),
                      # Bounces without our VERP token are tied by the Message-ID they return; only sent rows have one.
                      Index("ix_deliveries_message_id", "message_id", postgresql_where=text("message_id IS NOT NULL"),
                            sqlite_where=text("message_id IS NOT NULL")))

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys on this table's two references: a campaign's audience is inserted a million rows
    # at a time, and PostgreSQL checks a foreign key row by row, locking each referenced row (three
    # quarters of materialise's time). The two deletes they stood for are done in code instead:
    # delete_campaign removes the campaign's deliveries, and a deleted subscriber's deliveries keep
    # the campaign's counts with subscriber_id NULL (mailer.queries.forget_subscribers, a privacy wipe).
    campaign_id: Mapped[int]
    subscriber_id: Mapped[int | None]
    run_id: Mapped[int] = mapped_column(BigInteger, default=0)  # the automation run it was sent for; 0: none
    variant: Mapped[int] = mapped_column(SmallInteger, default=0)  # an A/B test's variant position; 0: none
    # What this one message's templates see besides the reader: an automation run's trigger event.
    template_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The receiving domain (after the address's last @), fixed with the audience (mailer/queries.py
    # materialise); kept when the subscriber is wiped, so the campaign's per-domain counts stay.
    domain: Mapped[str | None] = mapped_column(String(255), default=_subscriber_domain)
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus), default=DeliveryStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)  # SMTP tries that failed for a reason worth retrying
    leased_until: Mapped[datetime | None]
    retry_at: Mapped[datetime | None]  # not sent before then: a back-off after a 4xx, or a throttled domain
    first_failed_at: Mapped[datetime | None]  # retries stop this long after the first failure
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(250))
    smtp_reply: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Kept by tracking's flusher from its events (people only, not machines): a click counts as an open too.
    first_open_at: Mapped[datetime | None]
    first_click_at: Mapped[datetime | None]
    # When the reader unsubscribed through this message's link or List-Unsubscribe (tracking/metrics.py counts it).
    unsubscribed_at: Mapped[datetime | None]


class DeliveryCount(db.Model):  # type: ignore[name-defined]
    """A finished campaign's deliveries per state and receiving domain (``''``: none), counted once.

    A finished campaign's deliveries never change state again (none is queued or leased, and no job
    sends for a campaign that is not running), so mailer/queries.py ``settle`` counts them as it
    finishes, and its report reads these few rows instead of a million. A cancelled campaign's
    in-flight messages are still recorded after it stopped: it is counted from the index instead.
    """

    __tablename__ = "delivery_counts"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus), primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    deliveries: Mapped[int] = mapped_column(BigInteger)


class SendingDomain(db.Model):  # type: ignore[name-defined]
    """A domain Kairan sends from; its DKIM keys are in dkim_keys."""

    __tablename__ = "sending_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    keys: Mapped[list[DKIMKey]] = relationship(back_populates="sending_domain", cascade="all, delete-orphan",
                                               passive_deletes=True, order_by="DKIMKey.id")


class KeyAlgorithm(StrEnum):
    """A DKIM key's type, as DKIM's k= tag names it: RSA-2048 always, Ed25519 as a second signature."""

    RSA = "rsa"
    ED25519 = "ed25519"


class KeyState(StrEnum):
    """Where a key is in its life: a rotated key waits for its DNS record before it signs."""

    PENDING = "pending"  # made by a rotation; signs nothing until the admin activates it
    ACTIVE = "active"  # signs mail (one RSA key per domain, and at most one Ed25519 key)
    RETIRED = "retired"  # signs no more; its record stays published a few days for mail still in transit


class DKIMKey(db.Model):  # type: ignore[name-defined]
    """One DKIM key of a sending domain, under its own selector (encrypted with the secret key: mailer/domains.py)."""

    __tablename__ = "dkim_keys"
    __table_args__ = (UniqueConstraint("domain_id", "selector"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("sending_domains.id", ondelete="CASCADE"))
    selector: Mapped[str] = mapped_column(String(63))
    algorithm: Mapped[KeyAlgorithm] = mapped_column(str_enum(KeyAlgorithm))
    private_key: Mapped[str] = mapped_column(Text)  # Fernet token of the PEM
    state: Mapped[KeyState] = mapped_column(str_enum(KeyState))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    sending_domain: Mapped[SendingDomain] = relationship(back_populates="keys")


class RelaySecurity(StrEnum):
    """How the connection to a relay is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class SMTPRelayConfig(Timestamped, db.Model):  # type: ignore[name-defined]
    """An SMTP relay campaigns go out through; with none configured, KAIRAN_SMTP_URL is the only relay."""

    __tablename__ = "smtp_relays"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(default=25)
    security: Mapped[RelaySecurity] = mapped_column(str_enum(RelaySecurity), default=RelaySecurity.NONE)
    username: Mapped[str] = mapped_column(String(200), default="")
    password: Mapped[str] = mapped_column(Text, default="")  # Fernet token, like the DKIM keys
    max_connections: Mapped[int] = mapped_column(default=4)  # per worker process
    weight: Mapped[int] = mapped_column(default=1)  # share of connections, relative to the other relays
    rate_per_second: Mapped[int | None]  # the relay's own limit (e.g. SES's); none when unset
    enabled: Mapped[bool] = mapped_column(default=True)


class Link(db.Model):  # type: ignore[name-defined]
    """A URL a campaign tracks; the click redirect reads its target here, never from the request."""

    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("campaign_id", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Media(db.Model):  # type: ignore[name-defined]
    """An uploaded image, stored in the data folder under its uuid."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
