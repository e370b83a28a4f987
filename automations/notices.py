"""The notify step: a short mail to the team (a sales person, the shop's desk) about the subscriber who got there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from sqlalchemy import select

from core.db import db
from lists.models import Subscriber
from mailer.pipeline import Composed
from mailer.tx import Letter, assemble, enqueue


@dataclass(frozen=True)
class StaffNotice(Letter):
    """One notification: the step's subject and text, and who the subscriber is."""

    to: str
    subject: str
    body: str
    subscriber: str

    def compose(self) -> Composed:
        """Build and sign (a plain note: the team reads who and why)."""
        text = f"{self.body}\n\n{self.subscriber}\n".lstrip()
        return assemble(("", self.to), self.subject, f"<pre>{escape(text)}</pre>", text)


def send_notices(notices: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
    """Queue one notification per (subscriber id, step key, notify step)."""
    who = {s.id: f"{s.name} <{s.email}>" for s in db.session.scalars(
        select(Subscriber).where(Subscriber.id.in_({subscriber_id for subscriber_id, _key, _step in notices})))}
    for subscriber_id, _key, step in notices:
        enqueue(StaffNotice(str(step["to"]), str(step["subject"]), str(step.get("body") or ""),
                            who.get(subscriber_id, "")))
