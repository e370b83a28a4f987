"""The audience: lists, subscribers, subscriptions with their consent records, suppressions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Timestamped, db, new_uuid, str_enum, utcnow


class ListType(StrEnum):
    """Public lists show on the subscription form; private ones do not."""

    PUBLIC = "public"
    PRIVATE = "private"


class ListOptin(StrEnum):
    """Double opt-in lists mail only subscribers who confirmed."""

    SINGLE = "single"
    DOUBLE = "double"


class ListStatus(StrEnum):
    """Archived lists keep their subscribers but leave the pickers."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class MailingList(Timestamped, db.Model):  # type: ignore[name-defined]
    """A list subscribers join, as listmonk has it."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[ListType] = mapped_column(str_enum(ListType), default=ListType.PRIVATE)
    optin: Mapped[ListOptin] = mapped_column(str_enum(ListOptin), default=ListOptin.SINGLE)
    status: Mapped[ListStatus] = mapped_column(
        str_enum(ListStatus), default=ListStatus.ACTIVE
    )
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")


class SubscriberStatus(StrEnum):
    """Blocklisted subscribers never receive anything, whatever their subscriptions say."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    BLOCKLISTED = "blocklisted"


class SubscriptionStatus(StrEnum):
    """On double opt-in lists only confirmed subscriptions receive campaigns."""

    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class ConsentMethod(StrEnum):
    """How a subscription was given (特定電子メール法 asks senders to keep this)."""

    FORM = "form"
    IMPORT = "import"
    API = "api"
    ADMIN = "admin"
    EMAIL_LINK = "email_link"  # a signed link in our mail: opt-in confirmation, unsubscribe, preferences


class SuppressionReason(StrEnum):
    """Why an address or domain must never be mailed."""

    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"


class Subscriber(Timestamped, db.Model):  # type: ignore[name-defined]
    """A person on one or more lists."""

    __tablename__ = "subscribers"
    __table_args__ = (Index("ix_subscribers_created_at", "created_at"),)  # the home's "joined" per day

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    # The address as sent (local part's case kept); email_key is its case-folded twin,
    # unique, so Taro@ and taro@ are one subscriber and lookups use an index.
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # jsonb on PostgreSQL: stored parsed, so segment rules read attributes without re-parsing text.
    attribs: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"), default=dict)
    status: Mapped[SubscriberStatus] = mapped_column(str_enum(SubscriberStatus), default=SubscriberStatus.ENABLED)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan",
        primaryjoin="Subscriber.id == foreign(Subscription.subscriber_id)",
    )


class Subscription(Timestamped, db.Model):  # type: ignore[name-defined]
    """A subscriber's membership of one list."""

    __tablename__ = "subscriptions"
    # subscriber_id too: "members of list N" (the list filter, segment rules, a campaign's audience) is then
    # read from the index alone, without visiting each subscription row.
    __table_args__ = (Index("ix_subscriptions_list_status_subscriber", "list_id", "status", "subscriber_id"),)

    # No foreign keys here nor on consent records: an import writes one of each per row, and PostgreSQL
    # checks a foreign key row by row (migration 0020). Deleting a subscriber or a list deletes its
    # subscriptions and consent records in code (delete_subscribers, delete_lists).
    subscriber_id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[SubscriptionStatus] = mapped_column(
        str_enum(SubscriptionStatus), default=SubscriptionStatus.UNCONFIRMED
    )
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    subscriber: Mapped[Subscriber] = relationship(
        back_populates="subscriptions", primaryjoin="Subscriber.id == foreign(Subscription.subscriber_id)")
    mailing_list: Mapped[MailingList] = relationship(primaryjoin="MailingList.id == foreign(Subscription.list_id)")


class ConsentRecord(db.Model):  # type: ignore[name-defined]
    """Proof of one subscription: when, how, from where, and the words the person agreed to."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_subscriber", "subscriber_id", "list_id"),
                      Index("ix_consent_records_status_created", "status", "created_at"))  # the home's "left"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Deleted with its subscriber (a wipe for a privacy request must leave nothing behind) or its list.
    subscriber_id: Mapped[int]
    list_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[ConsentMethod] = mapped_column(str_enum(ConsentMethod))
    status: Mapped[SubscriptionStatus] = mapped_column(str_enum(SubscriptionStatus))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    # The form's wording, the import's file name, or the admin/API user who added it.
    evidence: Mapped[str] = mapped_column(Text, default="")


class Suppression(db.Model):  # type: ignore[name-defined]
    """An address, or a whole domain, that is never mailed."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A case-folded address ("taro@example.jp") or a domain ("example.jp").
    value: Mapped[str] = mapped_column(String(254), unique=True)
    is_domain: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[SuppressionReason] = mapped_column(str_enum(SuppressionReason))
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportMode(StrEnum):
    """What an import does with each address."""

    SUBSCRIBE = "subscribe"
    BLOCKLIST = "blocklist"
    UNSUBSCRIBE = "unsubscribe"


class ImportKind(StrEnum):
    """What an import's file holds: subscribers (lists/import_job.py) or customer events (automations)."""

    SUBSCRIBERS = "subscribers"
    EVENTS = "events"


class ImportStatus(StrEnum):
    """An import's progress from upload to end."""

    PENDING = "pending"  # uploaded; waiting for the user to confirm encoding and mapping
    QUEUED = "queued"
    IMPORTING = "importing"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Import(Timestamped, db.Model):  # type: ignore[name-defined]
    """One CSV import: its file, how to read it, what to do, and how far it got."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ImportKind] = mapped_column(str_enum(ImportKind), default=ImportKind.SUBSCRIBERS)
    file_name: Mapped[str] = mapped_column(String(255))  # as uploaded; kept as consent evidence
    encoding: Mapped[str] = mapped_column(String(30), default="utf-8")
    delimiter: Mapped[str] = mapped_column(String(1), default=",")
    # One entry per CSV column: {"target": "email"|"name"|"attribute"|"attribs_json"|"ignore", "key", "type"}.
    mapping: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what only its kind needs
    mode: Mapped[ImportMode] = mapped_column(str_enum(ImportMode), default=ImportMode.SUBSCRIBE)
    overwrite: Mapped[bool] = mapped_column(default=False)
    list_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    subscription_status: Mapped[SubscriptionStatus] = mapped_column(
        str_enum(SubscriptionStatus), default=SubscriptionStatus.CONFIRMED
    )
    status: Mapped[ImportStatus] = mapped_column(str_enum(ImportStatus), default=ImportStatus.PENDING)
    total: Mapped[int] = mapped_column(default=0)  # data rows in the file (counted at upload, known at the end)
    done: Mapped[int] = mapped_column(default=0)  # rows read so far
    imported: Mapped[int] = mapped_column(default=0)  # good rows written
    failed: Mapped[int] = mapped_column(default=0)  # bad rows, listed in its bad-rows file
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ImportFile(StrEnum):
    """The files an import keeps, each only while it is needed (lists/import_files.py)."""

    UPLOAD = "upload"  # the CSV as uploaded: until the import ends
    BAD_ROWS = "bad_rows"  # line, reason and row of each row it could not take: for a while after it ends


class ImportChunk(db.Model):  # type: ignore[name-defined]
    """One piece of an import's file, in the database: every machine reaches it, whatever its data folder."""

    __tablename__ = "import_chunks"

    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True,
                                           autoincrement=False)
    file: Mapped[ImportFile] = mapped_column(str_enum(ImportFile), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # 0, 1, 2 … in the file's order
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Segment(Timestamped, db.Model):  # type: ignore[name-defined]
    """A saved, named set of rules selecting subscribers (see lists/segments.py for the rule format)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
