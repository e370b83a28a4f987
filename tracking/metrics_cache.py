"""A small Redis cache of computed campaign figures, and what makes them stale.

A report of a million-recipient campaign reads millions of rows; people reload it, and a
dashboard polls it. So each figure set is kept in Redis (shared by every web process) and
served again:

- always while it is younger than LIVE_SECONDS: a running campaign's figures (sent counts change
  with every message, and nothing marks that) are at most that old;
- otherwise, when computed after the campaign stopped sending, for as long as nothing changed it since, at
  most KEEP_SECONDS (figures computed while it ran are never kept past LIVE_SECONDS: its last messages went out
  after them, and nothing marks that either).
  A change is marked by a per-campaign version counter, raised after the commit that stored
  opens or clicks (the flusher), a bounce or complaint (any ORM insert of a Bounce), or an
  unsubscribe from the campaign; ``flask tracking reclassify`` raises one counter for all
  campaigns. Anything else (a subscriber wiped, say) shows within KEEP_SECONDS.

Counters, not clocks, decide staleness, so machines with skewed clocks agree. Redis being down
costs only speed: figures are computed every time, and nothing is cached.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from flask import has_app_context
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.queues import redis
from tracking.models import Bounce

log = logging.getLogger(__name__)

T = TypeVar("T")

LIVE_SECONDS = 5.0  # how stale a running campaign's figures may be ("live while sending")
KEEP_SECONDS = 600  # the longest any figures are kept, whatever the counters say
PREFIX = "kairan:metrics:3:"  # the number changes when the cached classes do, so old entries are never read
VERSION_KEEP_SECONDS = 7 * 86400
ALL = "all"
PENDING = "kairan_metrics_changed"  # session.info key: campaigns changed in the transaction, marked on commit


def _version_key(campaign: int | str) -> str:
    return f"{PREFIX}version:{campaign}"


def cached(kind: str, campaign_id: int, running: bool, compute: Callable[[], T]) -> T:
    """Return ``compute()``'s figures for one campaign, from the cache while they are fresh enough."""
    key = f"{PREFIX}{kind}:{campaign_id}"
    try:
        client = redis()
        raw, version, version_all = client.mget(key, _version_key(campaign_id), _version_key(ALL))
    except RedisError as error:
        log.warning("campaign figures computed without the cache: %s", error)
        return compute()
    versions = (int(version or 0), int(version_all or 0))
    if raw is not None:
        try:
            computed_at, seen, was_running, value = pickle.loads(cast(bytes, raw))  # noqa: S301  (our own Redis)
        except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, ImportError):
            computed_at, seen, was_running, value = 0.0, None, True, None
        age = time.time() - computed_at
        if age < LIVE_SECONDS or (not running and not was_running and seen == versions and age < KEEP_SECONDS):
            return cast(T, value)
    started = time.time()
    value = compute()
    try:
        client.set(key, pickle.dumps((started, versions, running, value), protocol=pickle.HIGHEST_PROTOCOL),
                   ex=KEEP_SECONDS)
    except RedisError as error:
        log.warning("campaign figures not cached: %s", error)
    return value


def mark_changed(campaign_ids: Iterable[int | str]) -> None:
    """Raise the version of these campaigns (or ``ALL``): their cached figures are stale from now on."""
    wanted = set(campaign_ids)
    if not wanted:
        return
    try:
        pipe = redis().pipeline(transaction=False)
        for campaign in wanted:
            pipe.incr(_version_key(campaign))
            pipe.expire(_version_key(campaign), VERSION_KEEP_SECONDS)
        pipe.execute()
    except RedisError as error:
        log.warning("could not mark campaign figures stale (they refresh within %d s): %s", KEEP_SECONDS, error)


def changed_on_commit(session: Any, campaign_ids: Iterable[int]) -> None:
    """Mark these campaigns changed once the session's transaction commits (not before: a reader could
    compute from the old rows after the mark, and keep them)."""
    session.info.setdefault(PENDING, set()).update(campaign_ids)


def _collect_bounces(session: Session, _context: Any) -> None:
    campaigns = {obj.campaign_id for obj in session.new if isinstance(obj, Bounce) and obj.campaign_id is not None}
    if campaigns:
        changed_on_commit(session, campaigns)


def _after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    if pending and has_app_context():
        mark_changed(pending)


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)


def listen() -> None:
    """Watch every session's commits for changes to campaign figures (once per process)."""
    for name, handler in (("after_flush", _collect_bounces), ("after_commit", _after_commit),
                          ("after_rollback", _after_rollback)):
        if not event.contains(Session, name, handler):
            event.listen(Session, name, handler)
