"""Saved segments: a name and a rule group (lists/segment_rules.py), given as JSON rules or an expression."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db
from core.errors import NotFoundError, ValidationError
from core.signals import segment_deleting
from lists.errors import RuleError
from lists.models import Segment
from lists.segment_expressions import parse_expression
from lists.segment_rules import compile_rule, count


def rules_from(data: dict[str, Any]) -> dict[str, Any]:
    """Take rules from JSON ("rules") or from the expression language ("expression"), checking they compile."""
    given = parse_expression(str(data["expression"])) if data.get("expression") else data.get("rules")
    if not isinstance(given, dict):
        raise RuleError(_("Give the segment's rules or an expression."))
    rules: dict[str, Any] = given
    compile_rule(rules)  # refuses what it does not understand, before anything is saved
    return rules


def save_segment(segment: Segment | None, data: dict[str, Any]) -> Segment:
    """Create a segment, or change one, from {"name", "description", "rules" | "expression"}."""
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        raise ValidationError(_("A segment needs a name of 1 to 200 characters."), field="name")
    rules = rules_from(data)
    if segment is None:
        segment = Segment(name=name, description="", rules={})
        db.session.add(segment)
    segment.name, segment.rules = name, rules
    segment.description = str(data.get("description") or "")
    db.session.commit()
    return segment


def get_segment(segment_id: int) -> Segment:
    """Return a segment or raise NotFoundError."""
    segment = db.session.get(Segment, segment_id)
    if segment is None:
        raise NotFoundError(_("Segment not found."))
    return segment


def all_segments() -> list[Segment]:
    """Return every segment by name."""
    return list(db.session.scalars(select(Segment).order_by(Segment.name)))


def delete_segment(segment: Segment) -> None:
    """Delete a segment (subscribers are untouched); one a live automation uses is refused."""
    segment_deleting.send(ids=[segment.id])
    db.session.delete(segment)
    db.session.commit()


def segment_as_dict(segment: Segment, with_count: bool = False) -> dict[str, Any]:
    """Serialise a segment for the API."""
    data = {"id": segment.id, "name": segment.name, "description": segment.description, "rules": segment.rules,
            "created_at": segment.created_at.isoformat(), "updated_at": segment.updated_at.isoformat()}
    if with_count:
        data["subscriber_count"] = count(segment.rules)
    return data
