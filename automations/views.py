"""The automations' pages: the list with its recipes, the builder (the flow as cards, a side panel per step, the
draft posted back whole), activate / pause / archive, a dry run for one subscriber, and the runs on a subscriber's
page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import Markup
from sqlalchemy import select

from automations.engine import waiting_now
from automations.errors import DefinitionError
from automations.graph import message_ids, ways_on
from automations.lifecycle import (
    activate,
    all_automations,
    archive,
    delete_automation,
    draft_is_new,
    get_automation,
    move_preview,
    move_runs,
    new_message,
    pause,
    update_automation,
)
from automations.models import Automation, AutomationStatus, AutomationVersion, Run, RunState, StepCount
from automations.recipes import RECIPES, from_recipe
from automations.step_labels import builder_labels, step_label, subjects
from automations.summary import converted_by_version
from automations.timing import NoDateError, wait_ends
from automations.triggers import enrol, enrol_segment
from core.auth import Permission, require
from core.db import db, utcnow
from core.errors import KairanError
from core.forms import ConfirmForm
from core.refusals import showing_refusal
from core.web import can
from lists.addresses import address_key
from lists.errors import RuleError
from lists.models import ListStatus, MailingList, Segment, Subscriber
from lists.segment_expressions import parse_expression
from lists.segment_rules import compile_rule
from mailer.jobs import queue_campaign_test
from mailer.models import Campaign, CampaignKind
from tracking.metrics import metrics_of

bp = Blueprint("automations", __name__, url_prefix="/automations")
STATUS_LABELS = {"draft": _l("Draft"), "active": _l("Active"), "paused": _l("Paused"), "archived": _l("Archived")}
RUN_LABELS = {"waiting": _l("Waiting"), "converted": _l("Converted"), "completed": _l("Completed"),
              "exited": _l("Exited"), "failed": _l("Failed")}


def _version_numbers(automations: list[Automation]) -> dict[int, int]:
    ids = [a.version_id for a in automations if a.version_id]
    return dict(db.session.execute(select(AutomationVersion.id, AutomationVersion.number)
                                   .where(AutomationVersion.id.in_(ids))).all()) if ids else {}


@bp.get("/")
@require(Permission.CAMPAIGNS_READ)
def index() -> Any:
    """Every automation: status, version, how many wait in it now, how many converted."""
    automations = all_automations()
    versions = _version_numbers(automations)
    ids = [a.version_id for a in automations if a.version_id]
    waiting: dict[int, int] = {}
    for (version_id, _step), n in waiting_now(ids).items():
        waiting[version_id] = waiting.get(version_id, 0) + n
    return render_template("automations/index.html", automations=automations, versions=versions, waiting=waiting,
                           converted=converted_by_version(ids), recipes=RECIPES.values(), status_labels=STATUS_LABELS,
                           form=ConfirmForm())


@bp.post("/new")
@require(Permission.CAMPAIGNS_WRITE)
def create() -> Any:
    """Create an automation from a recipe and open it in the builder."""
    if not ConfirmForm().validate_on_submit() or request.form.get("recipe") not in RECIPES:
        return redirect(url_for("automations.index"))
    with showing_refusal():
        automation = from_recipe(str(request.form["recipe"]))
        flash(_("Automation “%(name)s” created from its recipe: check its steps and emails, then activate it.",
                name=automation.name), "success")
        return redirect(url_for("automations.builder", automation_id=automation.id))
    return redirect(url_for("automations.index"))


def _counts(automation: Automation) -> dict[str, dict[str, int]]:
    """The current version's figures per step: entered, waiting now, sent, converted."""
    if not automation.version_id:
        return {}
    counts = {row.step: {"entered": int(row.entered), "waiting": 0, "sent": int(row.sent),
                         "converted": int(row.converted)}
              for row in db.session.scalars(select(StepCount).where(StepCount.version_id == automation.version_id))}
    for (_version, step), n in waiting_now([automation.version_id]).items():
        counts.setdefault(step, {"entered": 0, "waiting": 0, "sent": 0, "converted": 0})["waiting"] = n
    return counts


def _earned(automation: Automation) -> dict[str, Any] | None:
    """What the automation's emails earned, all its messages together: conversions attributed to them and their
    revenue in the installation's currency (tracking/metrics.py); None before the first conversion."""
    ids = list(db.session.scalars(select(Campaign.id).where(Campaign.id.in_(message_ids(automation.draft or {})))))
    found = [m for m in metrics_of(ids).values() if m.conversions]
    if not found:
        return None
    return {"conversions": sum(m.conversions for m in found), "revenue": sum(m.revenue for m in found),
            "currency": found[0].currency}


def _messages(draft: dict[str, Any]) -> dict[str, dict[str, str]]:
    ids = message_ids(draft)
    return {str(c.id): {"subject": c.subject, "edit": url_for("compose.campaign_edit", campaign_id=c.id),
                        "preview": url_for("compose.campaign_preview", campaign_id=c.id)}
            for c in db.session.scalars(select(Campaign).where(Campaign.id.in_(ids)))}


def _choices(draft: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """What the trigger panel's selects offer: lists, segments, and the campaigns a campaign trigger can follow
    (regular campaigns, and other automations' messages)."""
    own = {s.get("campaign_id") for s in (draft.get("steps") or {}).values() if isinstance(s, dict)}
    campaigns = db.session.execute(select(Campaign.id, Campaign.name, Campaign.kind).order_by(Campaign.id.desc())
                                   .limit(500)).all()
    return {
        "lists": [{"id": i, "name": n} for i, n in db.session.execute(
            select(MailingList.id, MailingList.name).where(MailingList.status == ListStatus.ACTIVE)
            .order_by(MailingList.name))],
        "segments": [{"id": i, "name": n} for i, n in db.session.execute(
            select(Segment.id, Segment.name).order_by(Segment.name))],
        "campaigns": [{"id": i, "name": n, "automation": kind == CampaignKind.AUTOMATION}
                      for i, n, kind in campaigns if i not in own],
    }


@bp.get("/<int:automation_id>")
@require(Permission.CAMPAIGNS_READ)
def builder(automation_id: int) -> Any:
    """The builder: the flow top to bottom, each card's figures, a side panel to edit a step; enrolment on an
    active automation, moving older versions' runs, and deletion."""
    automation = get_automation(automation_id)
    version = db.session.get(AutomationVersion, automation.version_id) if automation.version_id else None
    draft = automation.draft or {}
    segments = db.session.execute(select(Segment.id, Segment.name).order_by(Segment.name)).all()
    return render_template("automations/builder.html", automation=automation, version=version,
                           counts=_counts(automation), messages=_messages(draft), choices=_choices(draft),
                           status_labels=STATUS_LABELS, form=ConfirmForm(), segments=segments,
                           step_labels=builder_labels(), draft_is_new=draft_is_new(automation),
                           preview=move_preview(automation), earned=_earned(automation),
                           editable=can(Permission.CAMPAIGNS_WRITE)
                           and automation.status != AutomationStatus.ARCHIVED,
                           writer=can(Permission.CAMPAIGNS_WRITE),
                           error_step=request.args.get("step", ""))


def _with_rules(draft: Any) -> Any:
    """Conditions written as an expression (not did("purchase", within_days=30)) get their rule from it."""
    steps = draft.get("steps") if isinstance(draft, dict) else None
    for key, step in (steps if isinstance(steps, dict) else {}).items():
        if isinstance(step, dict) and step.get("type") == "condition" and str(step.get("expression") or "").strip():
            try:
                step["rule"] = parse_expression(str(step["expression"]))
                compile_rule(step["rule"])
            except RuleError as error:
                raise DefinitionError(_("The condition “%(step)s”: %(error)s", step=key, error=error.message),
                                      step=key) from None
    return draft


@bp.post("/<int:automation_id>/draft")
@require(Permission.CAMPAIGNS_WRITE)
def save_draft(automation_id: int) -> Any:
    """Save the builder's draft (JSON {name, draft}); answer the refusal's message and step."""
    automation = get_automation(automation_id)
    posted = request.get_json(silent=True) or {}
    try:
        update_automation(automation, name=posted.get("name"), draft=_with_rules(posted.get("draft")))
    except KairanError as error:
        db.session.rollback()
        return jsonify(message=error.message, step=getattr(error, "step", None)), 400
    return jsonify(message=_("Saved."), draft=automation.draft, messages=_messages(automation.draft))


@bp.post("/<int:automation_id>/messages")
@require(Permission.CAMPAIGNS_WRITE)
def add_message(automation_id: int) -> Any:
    """A new message for a send step added in the builder."""
    automation = get_automation(automation_id)
    campaign = new_message(automation, _("Email"), _("(subject)"))
    return jsonify(id=campaign.id, message={"subject": campaign.subject,
                                            "edit": url_for("compose.campaign_edit", campaign_id=campaign.id),
                                            "preview": url_for("compose.campaign_preview", campaign_id=campaign.id)})


@bp.post("/<int:automation_id>/status")
@require(Permission.CAMPAIGNS_WRITE)
def change(automation_id: int) -> Any:
    """Activate, pause or archive; a definition that cannot run says why and which step."""
    automation = get_automation(automation_id)
    back = url_for("automations.builder", automation_id=automation.id)
    if not ConfirmForm().validate_on_submit():
        return redirect(back)
    action = request.form.get("move")
    with showing_refusal() as attempt:
        if action == "activate":
            version = activate(automation)
            flash(_("Active: new subscribers start on version %(n)d.", n=version.number), "success")
        elif action == "pause":
            pause(automation)
            flash(_("Paused: nobody starts, subscribers wait where they are."), "success")
        elif action == "archive":
            exited = archive(automation)
            flash(_("Archived; %(n)d waiting subscribers left it.", n=exited), "success")
    step = getattr(attempt.error, "step", None) if attempt.refused else None
    return redirect(url_for("automations.builder", automation_id=automation.id, step=step) if step else back)


@bp.post("/<int:automation_id>/delete")
@require(Permission.CAMPAIGNS_WRITE)
def delete(automation_id: int) -> Any:
    """Delete a draft or archived automation with its runs and messages; an active or paused one is refused."""
    automation = get_automation(automation_id)
    back = url_for("automations.builder", automation_id=automation.id)
    if not ConfirmForm().validate_on_submit():
        return redirect(back)
    name = automation.name
    with showing_refusal():
        delete_automation(automation)
        flash(_("Automation “%(name)s” deleted.", name=name), "success")
        return redirect(url_for("automations.index"))
    return redirect(back)


@bp.post("/<int:automation_id>/enrol")
@require(Permission.CAMPAIGNS_WRITE)
def enrol_some(automation_id: int) -> Any:
    """読者を追加: start one subscriber (by email) or every member of a segment on the running version."""
    automation = get_automation(automation_id)
    back = url_for("automations.builder", automation_id=automation.id)
    if not ConfirmForm().validate_on_submit():
        return redirect(back)
    email = (request.form.get("email") or "").strip()
    segment = (request.form.get("segment_id") or "").strip()
    with showing_refusal():
        if email:
            subscriber_id = db.session.scalar(select(Subscriber.id).where(Subscriber.email_key == address_key(email)))
            if subscriber_id is None:
                flash(_("No subscriber has the address %(email)s.", email=email), "error")
                return redirect(back)
            started = enrol(automation, [subscriber_id])
            if started:
                flash(_("%(email)s started the automation.", email=email), "success")
            else:
                flash(_("%(email)s did not start: the entry rule keeps them out (already in it, or not yet time "
                        "to start again).", email=email), "warning")
        elif segment.isdigit():
            started = enrol_segment(automation, int(segment))
            flash(ngettext("%(num)d subscriber of the segment started the automation (those the entry rule keeps "
                           "out, or already in it, did not).",
                           "%(num)d subscribers of the segment started the automation (those the entry rule keeps "
                           "out, or already in it, did not).", started), "success")
        else:
            flash(_("Give a subscriber's address or choose a segment."), "error")
    return redirect(back)


@bp.post("/<int:automation_id>/move")
@require(Permission.CAMPAIGNS_WRITE)
def move(automation_id: int) -> Any:
    """Move the waiting runs of older versions onto the running one where the same step exists."""
    automation = get_automation(automation_id)
    back = url_for("automations.builder", automation_id=automation.id)
    if not ConfirmForm().validate_on_submit():
        return redirect(back)
    with showing_refusal():
        moved = move_runs(automation)
        version = (db.session.get(AutomationVersion, automation.version_id).number  # type: ignore[union-attr]
                   if automation.version_id else "?")
        flash(ngettext("%(num)d subscriber moved to version %(version)s.",
                       "%(num)d subscribers moved to version %(version)s.", moved, version=version), "success")
    return redirect(back)


# Try with a subscriber: the path one subscriber would take, without sending


@dataclass(frozen=True)
class Passage:
    """One step of a dry run: which, when, and what happened there."""

    step: str
    kind: str
    at: datetime
    note: str
    campaign_id: int | None = None


def dry_run(draft: dict[str, Any], subscriber: Subscriber, now: datetime, timezone: str) -> list[Passage]:
    """Walk the draft for one subscriber from now, assuming no event arrives: conditions as they are today, waits as
    the engine counts them; a loop stops after 50 steps."""
    steps, key = draft.get("steps") or {}, draft.get("start")
    at, last_mail = now, None
    passed: list[Passage] = []
    while key in steps and len(passed) < 50:
        step = steps[key]
        kind, note, nxt, campaign = str(step.get("type")), "", None, None
        if kind == "wait":
            try:
                at = max(at, wait_ends(step, at, entered=now, last_mail=last_mail, attributes=subscriber.attribs or {},
                                       timezone=timezone))
                note = _("waits until then")
            except (NoDateError, KeyError, ValueError):
                passed.append(Passage(str(key), kind, at, _("has no date to wait for: the run fails here")))
                break
            nxt = step.get("next")
        elif kind == "wait_event":
            at = at + timedelta(days=int(step.get("days") or 0), hours=int(step.get("hours") or 0),
                                minutes=int(step.get("minutes") or 0))
            note, nxt = _("no “%(event)s” event: the wait times out", event=step.get("event")), step.get("timeout")
        elif kind == "condition":
            try:
                yes = db.session.scalar(select(Subscriber.id).where(Subscriber.id == subscriber.id,
                                                                    compile_rule(step.get("rule")))) is not None
            except RuleError as error:
                passed.append(Passage(str(key), kind, at, error.message))
                break
            note, nxt = (_("yes") if yes else _("no")), step.get("yes" if yes else "no")
        elif kind == "split":
            branches = step.get("branches") or [{}]
            note, nxt = _("branch 1 (%(p)s%%)", p=branches[0].get("percent", "?")), branches[0].get("next")
        elif kind == "send":
            campaign = step.get("campaign_id") if isinstance(step.get("campaign_id"), int) else None
            last_mail, note, nxt = at, _("sends the email"), step.get("next")
        elif kind == "goal":
            note = _("reaches the goal: converted")
        elif kind == "exit":
            note = _("leaves the automation")
        else:
            nxt = next(iter(ways_on(step)), None)
        passed.append(Passage(str(key), kind, at, note, campaign))
        key = nxt
    return passed


@bp.route("/<int:automation_id>/try", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS_READ)
def try_it(automation_id: int) -> Any:
    """試しに流す: the path a subscriber would take through the draft, and a test send of its emails."""
    automation = get_automation(automation_id)
    email = (request.values.get("email") or "").strip()
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email_key == address_key(email))) \
        if email else None
    passages = dry_run(automation.draft or {}, subscriber, utcnow(), current_app.config["KAIRAN"].timezone) \
        if subscriber else []
    to = (request.form.get("to") or "").strip()
    if request.method == "POST" and subscriber is not None:
        if not can(Permission.CAMPAIGNS_SEND):
            abort(403)
        if ConfirmForm().validate_on_submit():
            with showing_refusal():
                ids = [p.campaign_id for p in passages if p.campaign_id]
                for campaign_id in ids:
                    queue_campaign_test(campaign_id, subscriber.id, [to])
                flash(_("%(n)d test emails queued for %(to)s.", n=len(ids), to=to), "success")
    draft = automation.draft or {}
    messages = _messages(draft)
    steps, names = draft.get("steps") or {}, {int(i): m["subject"] for i, m in messages.items()}
    return render_template("automations/try.html", automation=automation, email=email, subscriber=subscriber,
                           passages=passages, messages=messages, to=to,
                           labels={p.step: step_label(steps.get(p.step), names) for p in passages},
                           form=ConfirmForm(), not_found=bool(email) and subscriber is None)


# The runs on a subscriber's page


def subscriber_runs(subscriber_id: int) -> Markup:
    """The automations a subscriber is in, newest first, as a section of their page."""
    rows = db.session.execute(select(Run, Automation.name, AutomationVersion.definition)
                              .join(Automation, Automation.id == Run.automation_id)
                              .join(AutomationVersion, AutomationVersion.id == Run.version_id)
                              .where(Run.subscriber_id == subscriber_id).order_by(Run.id.desc()).limit(50)).all()
    names = subjects([definition for _run, _name, definition in rows])
    runs = [(run, name, step_label((definition.get("steps") or {}).get(run.step), names))
            for run, name, definition in rows]
    html = render_template("automations/_subscriber_runs.html", rows=runs, run_labels=RUN_LABELS,
                           waiting=RunState.WAITING)
    return Markup(html)  # noqa: S704  (an autoescaped template's output)


def init_views(app: Flask) -> None:
    """The pages, and the runs section of the subscriber's page."""
    app.register_blueprint(bp)
    app.extensions.setdefault("kairan_subscriber_sections", []).append(subscriber_runs)

