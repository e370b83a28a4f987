"""UI pages for segments: the list with counts, and the rule editor with a live count."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.auth import Permission, require
from core.db import db
from core.errors import FormExpiredError
from core.forms import ConfirmForm
from core.refusals import showing_refusal
from lists.models import Segment
from lists.segment_rules import RULE_KINDS, count
from lists.segments import all_segments, delete_segment, get_segment, rules_from, save_segment
from lists.services import lists_query

bp = Blueprint("segments", __name__, url_prefix="/subscribers/segments")


@bp.get("/")
@require(Permission.SUBSCRIBERS_READ)
def index() -> Any:
    """Show the segments with how many subscribers each selects now."""
    segments = all_segments()
    return render_template("lists/segments.html", segments=segments, counts={s.id: count(s.rules) for s in segments})


def _editor(segment: Segment | None, values: dict[str, Any], status: int = 200) -> Any:
    lists = [{"id": m.id, "name": m.name} for m in db.session.scalars(lists_query(order_by="name"))]
    # The event row only where a package registered the event rule (automations): lists cannot know it otherwise.
    fields = ["attribute", "email", "name", "status", "created_at", "list"]
    fields += ["event"] if "event" in RULE_KINDS else []
    return render_template("lists/segment.html", segment=segment, values=values, lists=lists, fields=fields,
                           form=ConfirmForm()), status


def _form_values() -> dict[str, Any]:
    values: dict[str, Any] = {"name": request.form.get("name", ""),
                              "description": request.form.get("description", ""),
                              "expression": request.form.get("expression", "").strip()}
    if not values["expression"]:
        try:
            values["rules"] = json.loads(request.form.get("rules") or "null")
        except json.JSONDecodeError:
            values["rules"] = None
    return values


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.SUBSCRIBERS_WRITE)
def create() -> Any:
    """Build a new segment."""
    if request.method == "GET":
        return _editor(None, {"rules": {"match": "all", "rules": []}})
    values = _form_values()
    with showing_refusal():
        segment = _save(None, values)
        return redirect(url_for("segments.edit", segment_id=segment.id))
    return _editor(None, values, 400)


@bp.get("/<int:segment_id>")
@require(Permission.SUBSCRIBERS_READ)
def edit(segment_id: int) -> Any:
    """Show a segment's rules (and, for editors, the editor)."""
    segment = get_segment(segment_id)
    return _editor(segment, {"name": segment.name, "description": segment.description, "rules": segment.rules})


@bp.post("/<int:segment_id>")
@require(Permission.SUBSCRIBERS_WRITE)
def update(segment_id: int) -> Any:
    """Save a segment's name and rules."""
    segment = get_segment(segment_id)
    values = _form_values()
    with showing_refusal():
        _save(segment, values)
        return redirect(url_for("segments.edit", segment_id=segment_id))
    return _editor(segment, values, 400)


def _save(segment: Segment | None, values: dict[str, Any]) -> Segment:
    """Save the editor's form (its token checked first) and say so."""
    if not ConfirmForm().validate_on_submit():
        raise FormExpiredError()
    saved = save_segment(segment, values)
    flash(_("Segment %(name)s saved.", name=saved.name), "success")
    return saved


@bp.post("/<int:segment_id>/delete")
@require(Permission.SUBSCRIBERS_WRITE)
def delete(segment_id: int) -> Any:
    """Delete a segment."""
    segment = get_segment(segment_id)
    if ConfirmForm().validate_on_submit():
        with showing_refusal() as attempt:  # a segment a live automation uses: said on the segments page
            delete_segment(segment)
        if attempt.error is None:
            flash(_("Segment %(name)s deleted.", name=segment.name), "success")
    return redirect(url_for("segments.index"))


@bp.post("/count")
@require(Permission.SUBSCRIBERS_READ)
def live_count() -> Any:
    """Count what the editor's rules select (JSON in, JSON out; the CSRF token comes as a header)."""
    payload = request.get_json(silent=True) or {}
    return jsonify(data={"count": count(rules_from(payload if isinstance(payload, dict) else {}))})
