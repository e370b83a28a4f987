"""lists' queue: CSV imports, long jobs nobody waits on by the second, after every other queue."""

from __future__ import annotations

from core.queues import Priority, register_queue

IMPORT_QUEUE = register_queue("import", Priority.BACKGROUND)
