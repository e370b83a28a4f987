"""Recording a reader's confirmed answer: the answer row, their attribute, and a ``survey.answered`` event.

Only the confirm page's POST records (surveys/views.py). A second answer to the same question from the same
message replaces the first everywhere: the row is updated, the attribute rewritten, and the one event stored for
it (idempotency key ``survey:<delivery>:<question>``) gets the new properties, so a segment counts a person once
and an automation triggered by the first answer is not started twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from automations.events import EventInput, Fate, store_events
from automations.models import Event, EventSource
from core.db import db, utcnow
from core.tokens import Mark, read_mark_token
from lists.models import Subscriber
from mailer.models import Campaign, Delivery
from surveys.errors import CommentTooLongError, UnknownReaderError
from surveys.models import SurveyAnswer
from surveys.questions import MAX_COMMENT, YES_NO, Question, attribute_name

EVENT_NAME = "survey.answered"


@dataclass(frozen=True)
class Reader:
    """Whose answer a confirm page takes: the delivery a signed token names, its subscriber and campaign."""

    delivery_id: int
    subscriber_id: int
    campaign: Campaign


def reader_of(token: str) -> Reader | None:
    """The reader a survey link's token names; None for a token this Kairan did not sign (or none at all).

    A signed token whose delivery or subscriber is gone raises UnknownReaderError: the page says the survey closed.
    """
    ids = read_mark_token(Mark.SURVEY, token) if token else None
    if ids is None or len(ids) != 1:
        return None
    row = db.session.execute(select(Delivery.subscriber_id, Campaign)
                             .join(Campaign, Campaign.id == Delivery.campaign_id).where(Delivery.id == ids[0])).first()
    if row is None or row[0] is None:
        raise UnknownReaderError()
    return Reader(ids[0], row[0], row[1])


def earlier_answer(reader: Reader, question: Question) -> SurveyAnswer | None:
    """The reader's answer to this question from this message, when they answered before."""
    return db.session.scalar(select(SurveyAnswer).where(SurveyAnswer.delivery_id == reader.delivery_id,
                                                        SurveyAnswer.question == question.name))


def record_answer(reader: Reader, question: Question, answer: str, comment: str) -> None:
    """Keep the reader's answer (the latest wins), their attribute and the event; commits."""
    score, comment = question.score(answer), comment.strip()
    if len(comment) > MAX_COMMENT:
        raise CommentTooLongError(MAX_COMMENT)
    _keep_row(reader, question, score, comment)
    subscriber = db.session.get(Subscriber, reader.subscriber_id)
    if subscriber is not None:
        value: int | str = answer if question.name == YES_NO else score
        subscriber.attribs = {**(subscriber.attribs or {}), attribute_name(question.name): value}
    db.session.commit()
    _store_event(reader, question, answer, score, comment)


def _keep_row(reader: Reader, question: Question, score: int, comment: str) -> None:
    values = {"score": score, "comment": comment, "answered_at": utcnow()}
    answer = earlier_answer(reader, question)
    if answer is None:
        try:
            with db.session.begin_nested():  # two taps at once: the second one updates what the first inserted
                db.session.add(SurveyAnswer(campaign_id=reader.campaign.id, delivery_id=reader.delivery_id,
                                            subscriber_id=reader.subscriber_id, question=question.name, **values))
            return
        except IntegrityError:
            pass
    db.session.execute(update(SurveyAnswer).where(SurveyAnswer.delivery_id == reader.delivery_id,
                                                  SurveyAnswer.question == question.name).values(**values))


def _store_event(reader: Reader, question: Question, answer: str, score: int, comment: str) -> None:
    """Store the answer's event once through the events' store path (triggers see it); later, rewrite it."""
    properties = {"question": question.name, "score": score, "answer": answer, "comment": comment,
                  "campaign_id": reader.campaign.id, "campaign": reader.campaign.name}
    key = f"survey:{reader.delivery_id}:{question.name}"
    event = EventInput(index=0, way="subscriber_id", who=reader.subscriber_id, create=False, name=EVENT_NAME,
                       properties=orjson.dumps(properties).decode(), occurred_at=None, idempotency_key=key)
    [fate] = store_events([event], utcnow(), EventSource.SURVEY)
    if fate == Fate.DUPLICATE:
        db.session.execute(update(Event).where(Event.idempotency_key == key)
                           .values(properties=properties, occurred_at=utcnow()))
        db.session.commit()


def forget_subscribers(_sender: object = None, *, ids: Sequence[int]) -> None:
    """Keep deleted subscribers' answers for the campaigns' scores, without whose they were or what they wrote (a
    comment may name them); on core.signals.subscribers_deleting, in the deleting transaction."""
    db.session.execute(update(SurveyAnswer).where(SurveyAnswer.subscriber_id.in_(ids))
                       .values(subscriber_id=None, comment="").execution_options(synchronize_session=False))
