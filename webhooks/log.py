"""An endpoint's delivery log, and what an admin does from it: replay a request, send a test event."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import insert, select

from core.clock import now
from core.db import db
from webhooks.catalogue import TEST_EVENT
from webhooks.errors import MessageNotFoundError
from webhooks.models import Attempt, Endpoint, MessageState, OutboxMessage
from webhooks.outbox import announce, ask_delivery_after_commit

PAGE = 50


def attempts(endpoint: Endpoint, before: int | None = None, limit: int = PAGE) -> list[Attempt]:
    """The endpoint's requests, newest first (those older than the ``before`` attempt's id, for the next page)."""
    query = select(Attempt).where(Attempt.endpoint_id == endpoint.id).order_by(Attempt.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Attempt.id < before)
    return list(db.session.scalars(query))


def waiting_count(endpoint: Endpoint) -> int:
    """How many of its messages wait (to be sent, or for a retry)."""
    return len(db.session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.endpoint_id == endpoint.id, OutboxMessage.state == MessageState.PENDING).limit(10001)).all())


def attempt_as_dict(attempt: Attempt) -> dict[str, Any]:
    """A logged request as the API shows it."""
    return {"id": attempt.id, "event_type": attempt.event_type, "message_ids": attempt.message_ids,
            "at": attempt.at.isoformat(), "request_headers": attempt.request_headers,
            "request_body": attempt.request_body, "status": attempt.status, "response_body": attempt.response_body,
            "error": attempt.error, "duration_ms": attempt.duration_ms}


def get_attempt(endpoint: Endpoint, attempt_id: int) -> Attempt:
    attempt = db.session.get(Attempt, attempt_id)
    if attempt is None or attempt.endpoint_id != endpoint.id:
        raise MessageNotFoundError(_("This endpoint's log has no request %(id)s.", id=attempt_id))
    return attempt


def replay(endpoint: Endpoint, attempt: Attempt) -> int:
    """Send a logged request's messages again, as they were (the same webhook-id: a receiver that keeps ids sees
    a repeat), after whatever waits for the endpoint now; return how many."""
    messages = list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.id.in_(attempt.message_ids), OutboxMessage.endpoint_id == endpoint.id)
        .order_by(OutboxMessage.id)))
    if not messages:
        raise MessageNotFoundError(_("The messages of this request are no longer kept."))
    stamp = now()
    db.session.execute(insert(OutboxMessage), [
        {"endpoint_id": endpoint.id, "msg_id": m.msg_id, "event_type": m.event_type, "payload": m.payload,
         "lane": m.lane, "state": MessageState.PENDING, "attempts": 0, "next_attempt_at": stamp, "created_at": stamp}
        for m in messages])
    ask_delivery_after_commit([endpoint.id])
    db.session.commit()
    return len(messages)


def send_test(endpoint: Endpoint) -> None:
    """Write a test event for this endpoint alone, whatever types it asked for."""
    announce(TEST_EVENT, [(None, {"endpoint_id": endpoint.id, "message": "Kairan test event / 回覧のテスト送信"})],
             [endpoint.id])
    db.session.commit()
