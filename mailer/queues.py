"""mailer's queues: a message someone waits for before anything else, campaign batches after the default queue.

Both run their jobs in the worker's own process: a campaign stays compiled, and its DKIM key parsed,
from one batch to the next (core/cli.py).
"""

from __future__ import annotations

from core.queues import Priority, register_queue

TX_QUEUE = register_queue("tx", Priority.SOMEONE_WAITS, in_process=True)  # transactional, opt-in and test mail
SEND_QUEUE = register_queue("send", Priority.BULK, in_process=True)  # campaign batches and scheduled starts
