"""Customer events: what a shop or an app says a subscriber did (a purchase, an abandoned cart), when."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db, str_enum, utcnow

# SQLite's rowid alias must be INTEGER; PostgreSQL gets 64 bits (a shop's events pass 2^31 in time).
EVENT_ID = BigInteger().with_variant(Integer(), "sqlite")


class EventSource(StrEnum):
    """How an event came in."""

    API = "api"
    CSV = "csv"
    SURVEY = "survey"  # a reader's confirmed answer to a survey in mail (surveys/answers.py)


class Event(db.Model):  # type: ignore[name-defined]
    """One thing a subscriber did, as the sender reported it.

    Indexed for the two questions asked of events: a subscriber's events over time (the timeline, "did X in the
    last N days"), and one event's occurrences over time (a trigger, a segment rule over everyone).
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_subscriber_occurred", "subscriber_id", "occurred_at"),
                      Index("ix_events_name_occurred", "name", "occurred_at"))

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True)
    # Deleting a subscriber deletes their events (the index above starts with subscriber_id, so that is a lookup).
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    # jsonb on PostgreSQL, as subscribers' attributes: rules will read properties without parsing text.
    properties: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"), default=dict)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Unique when given (NULLs never collide): a repeat of the same key is a duplicate, stored once.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    source: Mapped[EventSource] = mapped_column(str_enum(EventSource), default=EventSource.API)


class AutomationStatus(StrEnum):
    """An automation's life: edited as a draft, running when active, held when paused, kept when archived."""

    DRAFT = "draft"
    ACTIVE = "active"  # triggers start runs and runs advance
    PAUSED = "paused"  # nothing starts, running subscribers wait where they are
    ARCHIVED = "archived"  # ended: its runs exited, its figures kept


class Automation(db.Model):  # type: ignore[name-defined]
    """A journey: a trigger, steps and rules (its ``draft``), and the version its runs follow once active."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[AutomationStatus] = mapped_column(str_enum(AutomationStatus), default=AutomationStatus.DRAFT)
    # What the editor works on (automations/graph.py says its shape); activation freezes it into a version.
    draft: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The version new runs start on (no foreign key: versions belong to their automation, a cycle otherwise).
    version_id: Mapped[int | None]
    # Scheduled triggers (a date attribute, a segment, a campaign's opens) have looked up to here, and the
    # subscribed trigger up to this consent record (their ids only grow).
    scanned_at: Mapped[datetime | None]
    consent_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    event_cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # the last event it acted on (ids only grow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AutomationVersion(db.Model):  # type: ignore[name-defined]
    """A frozen definition: runs follow the version they started on, so activating an edit never moves them."""

    __tablename__ = "automation_versions"
    __table_args__ = (UniqueConstraint("automation_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    number: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunState(StrEnum):
    """Where a run is: waiting (for a time or an event) and due at next_wake_at, or ended one way or another."""

    WAITING = "waiting"
    CONVERTED = "converted"  # reached a goal
    COMPLETED = "completed"  # reached an exit step or the end of its path
    EXITED = "exited"  # left by a rule: unsubscribed, blocklisted, suppressed, an exit event
    FAILED = "failed"  # a step could not be done for this subscriber (its reason is kept)


ENDED = (RunState.CONVERTED, RunState.COMPLETED, RunState.EXITED, RunState.FAILED)


class Run(db.Model):  # type: ignore[name-defined]
    """One subscriber's way through one version of an automation.

    A waiting run is due at ``next_wake_at``; the engine claims due runs (``claimed_until``: a worker that dies
    holding them lets them go when it passes) and moves each on, in the same transaction as what its steps
    did, so a step is done once whatever is killed when.
    """

    __tablename__ = "automation_runs"
    __table_args__ = (UniqueConstraint("automation_id", "subscriber_id", "entry_key"),
                      # The engine's one question: which waiting runs are due. Ended runs are not in it.
                      Index("ix_automation_runs_due", "next_wake_at",
                            postgresql_where=text("state = 'waiting'"), sqlite_where=text("state = 'waiting'")),
                      Index("ix_automation_runs_subscriber", "subscriber_id", "state"),
                      Index("ix_automation_runs_version_step", "version_id", "step", "state"))

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("automation_versions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    # What makes an entry unique under the automation's entry rule: "" (once per subscriber), the trigger event's
    # deduplicating property (every time), or the entry's time (again after N days).
    entry_key: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[RunState] = mapped_column(str_enum(RunState), default=RunState.WAITING)
    step: Mapped[str] = mapped_column(String(40), default="")  # the step it is at or ended at; "": not started
    step_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_wake_at: Mapped[datetime | None]
    waiting_for: Mapped[str | None] = mapped_column(String(64))  # at a wait for an event: its name, so it wakes
    claimed_until: Mapped[datetime | None]
    # The event that started it, as its messages see it ({{ event.properties.product_name }}).
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_at: Mapped[datetime | None]  # for 前のメールからN日後: waits counted from the last message
    ended_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)  # why it exited or failed


class RunStep(db.Model):  # type: ignore[name-defined]
    """A run's history: each step it passed, when, and how it left (kept for KAIRAN_AUTOMATION_HISTORY_DAYS)."""

    __tablename__ = "automation_run_steps"
    __table_args__ = (Index("ix_automation_run_steps_run", "run_id"),
                      Index("ix_automation_run_steps_at", "at"))

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("automation_runs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(40))  # passed, sent, yes, no, event, timeout, branch:N, …
    detail: Mapped[str | None] = mapped_column(Text)


class StepCount(db.Model):  # type: ignore[name-defined]
    """A step's running totals per version, added to once per engine batch (waiting now is counted from runs)."""

    __tablename__ = "automation_step_counts"

    version_id: Mapped[int] = mapped_column(ForeignKey("automation_versions.id", ondelete="CASCADE"),
                                            primary_key=True)
    step: Mapped[str] = mapped_column(String(40), primary_key=True)
    entered: Mapped[int] = mapped_column(BigInteger, default=0)
    passed: Mapped[int] = mapped_column(BigInteger, default=0)
    sent: Mapped[int] = mapped_column(BigInteger, default=0)
    converted: Mapped[int] = mapped_column(BigInteger, default=0)
    exited: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
