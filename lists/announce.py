"""Tell higher packages (webhooks) which subscribers and consent records a transaction wrote, before it commits.

The ORM's paths (the UI, the API, the public pages) are many; the flush sees them all, so what each flush wrote is
gathered in the session and announced once, when the transaction commits: in it, so a webhook's outbox row is
written with the change or not at all. Set-based paths (subscribers_for_addresses) send their signals themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from core.signals import consent_recorded, subscribers_changed
from lists.models import ConsentRecord, Subscriber

_KEY = "kairan_lists_written"


def _written(session: Session) -> dict[str, set[int]]:
    written: dict[str, set[int]] = session.info.setdefault(_KEY, {"created": set(), "updated": set(),
                                                                   "consent": set()})
    return written


@event.listens_for(Session, "after_flush")
def _gather(session: Session, _context: UOWTransaction) -> None:
    if not (subscribers_changed.receivers or consent_recorded.receivers):
        return
    written = _written(session)
    for obj in session.new:
        if isinstance(obj, Subscriber):
            written["created"].add(obj.id)
        elif isinstance(obj, ConsentRecord):
            written["consent"].add(obj.id)
    for obj in session.dirty:
        if isinstance(obj, Subscriber) and session.is_modified(obj, include_collections=False):
            written["updated"].add(obj.id)


@event.listens_for(Session, "before_commit")
def _announce(session: Session) -> None:
    if subscribers_changed.receivers or consent_recorded.receivers:
        session.flush()  # the commit flushes only after this hook: what is pending is gathered now
    written = session.info.pop(_KEY, None)
    if not written:
        return
    created = sorted(written["created"])
    updated = sorted(written["updated"] - written["created"])
    if created or updated:
        subscribers_changed.send(created=created, updated=updated)
    if written["consent"]:
        consent_recorded.send(ids=sorted(written["consent"]))


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous: Any) -> None:
    session.info.pop(_KEY, None)
