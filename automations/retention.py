"""Run history is kept for KAIRAN_AUTOMATION_HISTORY_DAYS, then deleted, so the log never grows without bound.

Ended runs go too (their history with them), but a run that still waits is never deleted, however old: it holds
the subscriber's place. The step counters keep the totals.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from automations.models import ENDED, Run, RunStep
from automations.settings import AUTOMATIONS
from core.db import db, utcnow

CHUNK = 10_000  # rows per delete: each transaction stays short
SWEEP_SECONDS = 3600


def sweep() -> int:
    """Periodic job: delete history and ended runs older than the retention; return how many rows went."""
    before = utcnow() - timedelta(days=AUTOMATIONS.current().history_days)
    gone = 0
    for model, old in ((RunStep, RunStep.at < before), (Run, (Run.state.in_(ENDED)) & (Run.ended_at < before))):
        while True:
            ids = list(db.session.scalars(select(model.id).where(old).limit(CHUNK)))
            if not ids:
                break
            db.session.execute(delete(model).where(model.id.in_(ids)))
            db.session.commit()
            gone += len(ids)
    return gone
