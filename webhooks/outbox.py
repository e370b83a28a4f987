"""The outbox: each event written as one message per endpoint that wants it, in the transaction of the change.

So a change committed is a message kept, whatever Redis does; a change rolled back sends nothing. After the commit
the endpoints' delivery jobs are asked for at once (``kick``); if Redis misses that, the periodic dispatch finds
the messages within KAIRAN_WEBHOOK_DISPATCH_SECONDS (webhooks/delivery.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from core import shared_config
from core.clock import now
from core.db import db
from webhooks.models import Endpoint, OutboxMessage

LANES = 8  # a subscriber's messages keep to one lane, so to one sending thread in order: lane = subscriber % LANES
_KICK = "kairan_webhooks_kick"  # endpoints to ask delivery for once the session commits


def _wanted() -> dict[str, list[int]]:
    wanted: dict[str, list[int]] = {}
    for endpoint_id, types in db.session.execute(
            select(Endpoint.id, Endpoint.event_types).where(Endpoint.enabled).order_by(Endpoint.id)):
        for event_type in types:
            wanted.setdefault(event_type, []).append(endpoint_id)
    return wanted


def wanting(event_type: str) -> list[int]:
    """The enabled endpoints that asked for this event type: held per process until an endpoint changes."""
    return list(shared_config.view("webhook_endpoints", _wanted).get(event_type, ()))


# An endpoint added, deleted, switched on or off or given other types changes what every process holds.
shared_config.count_changes_of(Endpoint, Endpoint.enabled, Endpoint.event_types)


def new_msg_id() -> str:
    """A message's webhook-id, the same on every retry of it."""
    return f"msg_{uuid.uuid4().hex}"


def body(event_type: str, data: Any, at: str) -> str:
    """A message's JSON body, as Standard Webhooks shapes it: type, timestamp, data."""
    return orjson.dumps({"type": event_type, "timestamp": at, "data": data}).decode()


def announce(event_type: str, items: Sequence[tuple[int | None, dict[str, Any]]],
             endpoint_ids: Sequence[int] | None = None) -> int:
    """Write one message per item (its subscriber id, for its order, and its data) and endpoint that wants the type,
    in the caller's transaction; return how many. ``endpoint_ids`` sends to those alone (a test event)."""
    targets = list(endpoint_ids) if endpoint_ids is not None else wanting(event_type)
    if not targets or not items:
        return 0
    stamp = now()
    at = stamp.isoformat()
    rows = [{"endpoint_id": endpoint_id, "msg_id": new_msg_id(), "event_type": event_type,
             "payload": body(event_type, data, at), "lane": (subscriber_id or 0) % LANES, "state": "pending",
             "attempts": 0, "next_attempt_at": stamp, "created_at": stamp}
            for endpoint_id in targets for subscriber_id, data in items]
    db.session.execute(insert(OutboxMessage), rows)
    ask_delivery_after_commit(targets)
    return len(rows)


def ask_delivery_after_commit(endpoint_ids: Sequence[int]) -> None:
    """Have these endpoints' delivery jobs queued once the session's transaction commits."""
    db.session.info.setdefault(_KICK, set()).update(endpoint_ids)


@event.listens_for(Session, "after_commit")
def _kick_after_commit(session: Session) -> None:
    endpoint_ids = session.info.pop(_KICK, None)
    if endpoint_ids:
        from webhooks.delivery import kick  # the job's module imports this one

        kick(sorted(endpoint_ids))


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous: Any) -> None:
    session.info.pop(_KICK, None)
