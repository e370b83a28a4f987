"""The event import job: reads an import's upload row by row and stores it through the events API's ingest, a
batch at a time.

It runs as lists/import_job.py's run_import (registered in RUNNERS), which cancels, fails and deletes the upload
the same way for every kind of import. Unlike the subscribers' import it reads the file in its own process: the
ingest of 1,000 events costs far more than reading their rows, so a reader process would save next to nothing.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from automations.event_import import EventRows
from automations.events import MAX_BATCH, ingest
from automations.models import EventSource
from core.db import utcnow
from lists import import_files
from lists.csvfiles import rows
from lists.import_job import save_progress
from lists.import_reader import BadRows, RowError
from lists.models import Import, ImportFile, ImportStatus

# Rows handed to the ingest at once: the API's largest batch, read and stored as the API stores one.
BATCH_EVENTS = MAX_BATCH
# A row read: its line, its cells, and the event it holds or why it holds none.
Read = tuple[int, list[str], dict[str, Any] | str]


def run_event_import(imp: Import) -> dict[str, int]:
    """Import an event file (lists.import_job.run_import calls it); return the rows stored and refused."""
    imp_id, delimiter, parse = imp.id, imp.delimiter, EventRows(imp)
    bad = BadRows()
    done = imported = failed = 0
    cancelled = False
    batch: list[Read] = []
    with import_files.open_file(imp_id, ImportFile.UPLOAD) as upload:
        records = rows(upload, imp.encoding, delimiter)
        next(records, None)  # the header
        for line, row, problem in records:
            if row is not None and not "".join(row).strip():
                continue  # blank lines are not rows
            done += 1
            batch.append((line, row or [], _read(parse, row, problem)))
            if len(batch) >= BATCH_EVENTS:
                stored, refused = _store(batch, bad, delimiter)
                imported, failed, batch = imported + stored, failed + refused, []
                if save_progress(imp_id, bad.take(), done=done, imported=imported, failed=failed):
                    cancelled = True
                    break
    if batch:
        stored, refused = _store(batch, bad, delimiter)
        imported, failed = imported + stored, failed + refused
    save_progress(imp_id, bad.take(), done=done, imported=imported, failed=failed, finished_at=utcnow(),
                  total=done if not cancelled else imp.total,
                  status=ImportStatus.CANCELLED if cancelled else ImportStatus.FINISHED)
    return {"imported": imported, "failed": failed}


def _read(parse: EventRows, row: list[str] | None, problem: str) -> dict[str, Any] | str:
    """Return the event a row holds, or why it holds none."""
    try:
        if row is None:
            raise RowError(_("The CSV cannot be read here: %(problem)s", problem=problem))
        return parse(row)
    except RowError as error:
        return str(error)


def _store(batch: list[Read], bad: BadRows, delimiter: str) -> tuple[int, int]:
    """Store a batch's events (commits); write its bad rows in the file's order; return (stored, refused)."""
    events = [event for _line, _row, event in batch if not isinstance(event, str)]
    outcome = ingest(events, EventSource.CSV) if events else None
    reasons = {error["index"]: error["message"] for error in outcome.errors} if outcome else {}
    index = refused = 0
    for line, row, event in batch:
        if isinstance(event, str):
            reason: str | None = event
        else:
            reason, index = reasons.get(index), index + 1
        if reason is not None:
            refused += 1
            bad.add(line, reason, delimiter.join(row))
    return (len(outcome.stored) if outcome else 0), refused
