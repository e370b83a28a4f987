"""Configuration that every process holds and admins rarely change: stored settings, webhook endpoints.

One row counts every change to any of it (``changed``, in the changing transaction). Each web request and worker
job reads that row once (``check``, one primary-key read). When the count moved, the hooks given to ``on_change``
run (the stored settings are put in force again), and the views made with ``view`` load again on their next use.
Between changes a view costs no query, however often the hot paths ask (the webhook receivers ask on every
signal). A change holds on every host from the next request or job, with nothing to share but the database.
Outside a checked request or job (a shell, a test's own app context) there is no count to trust, so ``view``
loads every time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, has_app_context
from sqlalchemy import CursorResult, event, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.orm.attributes import get_history

from core.db import db
from core.models import SettingsVersion

log = logging.getLogger(__name__)
T = TypeVar("T")
_EXTENSION = "kairan_shared_config"
_SEEN = "kairan_config_version"  # on flask.g: the count this request or job read
_CHANGED = "kairan_config_changed"  # on a session's info: it counted a change up
_COUNT = select(SettingsVersion.version).where(SettingsVersion.id == 1)  # built once: every request runs it


@dataclass
class _Held:
    """A process's copy: the count it applied, its hooks, and each view with the count it was loaded under."""

    applied: int = 0  # the count before anything was ever changed: what the process started with holds
    hooks: list[Callable[[Flask], None]] = field(default_factory=list)
    views: dict[str, tuple[int, Any]] = field(default_factory=dict)


def _held(app: Flask) -> _Held:
    return cast(_Held, app.extensions.setdefault(_EXTENSION, _Held()))


def on_change(app: Flask, hook: Callable[[Flask], None]) -> None:
    """Run ``hook`` in each process when it sees a new count (a process started after changes: at its first check)."""
    _held(app).hooks.append(hook)


def check(app: Flask | None = None) -> None:
    """Read the count: run the hooks if it moved; the views then trust it until the request or job ends."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        version = db.session.scalar(_COUNT) or 0
    except SQLAlchemyError as error:  # the database is down: go on with what is held (health pages say why)
        db.session.rollback()
        g.pop(_SEEN, None)
        log.warning("Shared configuration not checked: %s", error)
        return
    held = _held(app)
    if held.applied != version:
        for hook in held.hooks:
            hook(app)
        held.applied = version
    setattr(g, _SEEN, version)


def view(name: str, load: Callable[[], T]) -> T:
    """What ``load`` returns, loaded once per count while a checked request or job runs; loaded afresh otherwise."""
    version = g.get(_SEEN) if has_app_context() else None
    if version is None:
        return load()
    views = _held(current_app).views
    kept = views.get(name)
    if kept is None or kept[0] != version:
        kept = (version, load())
        views[name] = kept
    return cast(T, kept[1])


def held(app: Flask, name: str) -> tuple[int, Any] | None:
    """View ``name`` as this process holds it and the count it was loaded under, when that is the count the
    process applied last; else None. For a fast path that answers before Flask's check: what it decides on this
    is only good if ``check`` in the transaction that writes reads the same count (``checked_count``)."""
    state = _held(app)
    kept = state.views.get(name)
    return kept if kept is not None and kept[0] == state.applied else None


def checked_count() -> int | None:
    """The count this request or job read (None: not checked, or the database could not say)."""
    return g.get(_SEEN) if has_app_context() else None


def changed() -> None:
    """Count a change up, in the caller's transaction (the update locks the row: two changes never share a count).

    Until the request or job ends, this process's views load afresh, so the change is seen at once here too.
    """
    counted = cast(CursorResult[Any], db.session.connection().execute(  # no autoflush: may run inside a flush
        update(SettingsVersion).where(SettingsVersion.id == 1).values(version=SettingsVersion.version + 1)))
    if not counted.rowcount:
        db.session.add(SettingsVersion(id=1, version=1))
    db.session.info[_CHANGED] = True
    g.pop(_SEEN, None)


# The models whose rows the views hold, with the fields that matter: a row added or deleted, or one of these fields
# changed, counts a change in the flushing transaction (so a worker's change counts as a page's does).
_WATCHED: dict[type, tuple[str, ...]] = {}


def count_changes_of(model: type, *fields: InstrumentedAttribute[Any]) -> None:
    """Count a change whenever a row of ``model`` is added or deleted, or one of ``fields`` changes."""
    _WATCHED[model] = tuple(column.key for column in fields)


@event.listens_for(Session, "before_flush")
def _count_watched_changes(session: Session, _context: Any, _instances: Any) -> None:
    if not _WATCHED:
        return
    if any(type(row) in _WATCHED for row in (*session.new, *session.deleted)) or any(
            any(get_history(row, name).has_changes() for name in _WATCHED.get(type(row), ()))
            for row in session.dirty):
        changed()


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, None) and has_app_context():
        g.pop(_SEEN, None)  # a check in this transaction may have read the count before the change


def init_app(app: Flask) -> None:
    """Check before every request (workers check before each job: core/cli.py)."""
    app.before_request(check)
