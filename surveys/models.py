"""Survey answers: one per question per delivery (a second answer replaces the first)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db, utcnow


class SurveyAnswer(db.Model):  # type: ignore[name-defined]
    """A reader's answer to one question of a campaign's message, as they confirmed it last."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("delivery_id", "question"),
                      Index("ix_survey_answers_campaign", "campaign_id", "question"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    delivery_id: Mapped[int]  # no foreign key, as conversions: deliveries are inserted a million at a time
    # The answer outlives its subscriber (the campaign's figures stay), as a delivery does; the person is forgotten.
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"), index=True)
    question: Mapped[str] = mapped_column(String(40))  # nps, satisfaction or yes_no: the question is its kind
    score: Mapped[int]  # 0–10, 1–5, or 1 (yes) and 0 (no)
    comment: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
