"""Automations as the editor and the API handle them: create, edit the draft, activate (a version), pause, archive.

The draft is edited freely; activating checks it whole (automations/graph.py) and freezes it as a new version
when it differs from the one running, so runs already under way stay on theirs. Each send step's message is a
campaign of kind automation, composed in the same editor as any campaign; it is running while its automation is
active, so the mailer's batch jobs send its deliveries.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from automations.engine import exit_waiting
from automations.errors import AutomationStateError, DefinitionError
from automations.graph import Definition, check, message_ids
from automations.models import Automation, AutomationStatus, AutomationVersion, Event, Run, RunState, StepCount
from automations.triggers import listen_now
from core.db import db, utcnow
from core.errors import NotFoundError, ValidationError
from mailer.campaigns import require_legal_details
from mailer.layouts import default_template
from mailer.models import Campaign, CampaignKind, CampaignStatus, ContentType, Delivery
from mailer.template_context import fix_sender

MAX_NAME = 200


def get_automation(automation_id: int) -> Automation:
    """One automation, or NotFoundError."""
    automation = db.session.get(Automation, automation_id)
    if automation is None:
        raise NotFoundError(_("Automation not found."))
    return automation


def all_automations() -> list[Automation]:
    """Every automation, newest first."""
    return list(db.session.scalars(select(Automation).order_by(Automation.id.desc())))


def _name(value: Any) -> str:
    name = str(value or "").strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationError(_("Give the automation a name of at most %(n)d characters.", n=MAX_NAME), field="name")
    return name


def _draft(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DefinitionError(_("An automation's definition is a JSON object."))
    return value


def create_automation(name: Any, draft: Any = None) -> Automation:
    """A new automation in draft (its definition is checked when it is activated)."""
    automation = Automation(name=_name(name), draft=_draft(draft if draft is not None else {}),
                            status=AutomationStatus.DRAFT)
    db.session.add(automation)
    db.session.commit()
    return automation


def update_automation(automation: Automation, *, name: Any = None, draft: Any = None) -> None:
    """Rename, or replace the draft; an active automation keeps running its version until it is activated again."""
    if automation.status == AutomationStatus.ARCHIVED:
        raise AutomationStateError(_("An archived automation cannot be changed."))
    if name is not None:
        automation.name = _name(name)
    if draft is not None:
        automation.draft = _draft(draft)
    automation.updated_at = utcnow()
    db.session.commit()


def new_message(automation: Automation, name: str, subject: str = "", *, body: str = "",
                content_type: ContentType = ContentType.HTML, from_email: str = "") -> Campaign:
    """A message for a send step: a campaign of kind automation in the default layout (the law's footer), composed
    in the campaign editor."""
    campaign = Campaign(name=f"{automation.name}: {name}"[:200], subject=subject or name, kind=CampaignKind.AUTOMATION,
                        lists=[], body=body, content_type=content_type, from_email=from_email,
                        template=default_template())
    db.session.add(campaign)
    db.session.commit()
    return campaign


def has_content(campaign_id: int) -> bool:
    """Whether a send step's message exists, is an automation's, and has a subject and a body."""
    campaign = db.session.get(Campaign, campaign_id)
    return (campaign is not None and campaign.kind == CampaignKind.AUTOMATION and bool(campaign.subject.strip())
            and bool((campaign.body or "").strip()))


def activate(automation: Automation) -> AutomationVersion:
    """Check the draft and run it: a new version when it changed, its messages running; return the version."""
    if automation.status == AutomationStatus.ARCHIVED:
        raise AutomationStateError(_("An archived automation cannot be activated again: duplicate it instead."))
    definition = check(automation.draft, has_content)
    messages = [db.session.get(Campaign, campaign_id) for campaign_id in definition.campaign_ids()]
    for campaign in messages:
        assert campaign is not None  # noqa: S101  (has_content checked it)
        fix_sender(campaign)
        require_legal_details(campaign)  # the postal address and contact in its footer, as any campaign's
    version = db.session.get(AutomationVersion, automation.version_id) if automation.version_id else None
    if version is None or version.definition != definition.raw:
        number = (db.session.scalar(select(func.max(AutomationVersion.number)).where(
            AutomationVersion.automation_id == automation.id)) or 0) + 1
        version = AutomationVersion(automation_id=automation.id, number=number, definition=definition.raw)
        db.session.add(version)
        db.session.flush()
        db.session.add_all(StepCount(version_id=version.id, step=key, entered=0, passed=0, sent=0, converted=0,
                                     exited=0, failed=0) for key in definition.steps)
    automation.version_id, automation.status = version.id, AutomationStatus.ACTIVE
    if automation.scanned_at is None:
        automation.scanned_at = utcnow()  # scheduled triggers look from now on, not at the past
        automation.event_cursor = db.session.scalar(select(func.max(Event.id))) or 0  # and events from now
    _messages_status(automation, CampaignStatus.RUNNING)
    db.session.commit()
    listen_now()
    return version


def draft_is_new(automation: Automation) -> bool:
    """Tell whether activating would start a new version: there is none yet, or the draft differs from the running
    one (a draft that cannot run counts as new: activating it says why)."""
    version = db.session.get(AutomationVersion, automation.version_id) if automation.version_id else None
    if version is None:
        return True
    try:
        return check(automation.draft, has_content).raw != version.definition
    except DefinitionError:
        return True


def pause(automation: Automation) -> None:
    """Hold an active automation: nothing starts, runs wait where they are, queued messages wait."""
    if automation.status != AutomationStatus.ACTIVE:
        raise AutomationStateError(_("Only an active automation can be paused."))
    automation.status = AutomationStatus.PAUSED
    _messages_status(automation, CampaignStatus.PAUSED)
    db.session.commit()


def archive(automation: Automation) -> int:
    """End an automation: every waiting run exits, its messages stop; return how many runs exited."""
    automation.status = AutomationStatus.ARCHIVED
    exited = exit_waiting(Run.automation_id == automation.id, "automation archived")
    _messages_status(automation, CampaignStatus.FINISHED)
    db.session.commit()
    return exited


def change_status(automation: Automation, status: str) -> None:
    """PUT /api/automations/{id}/status: active, paused or archived."""
    if status == AutomationStatus.ACTIVE:
        activate(automation)
    elif status == AutomationStatus.PAUSED:
        pause(automation)
    elif status == AutomationStatus.ARCHIVED:
        archive(automation)
    else:
        raise ValidationError(_("status must be one of: active, paused, archived."), field="status")


def delete_automation(automation: Automation) -> None:
    """Delete a draft or archived automation, its runs, history and messages."""
    if automation.status in (AutomationStatus.ACTIVE, AutomationStatus.PAUSED):
        raise AutomationStateError(_("Archive the automation before deleting it: subscribers are in it."))
    campaign_ids = _all_message_ids(automation)
    db.session.delete(automation)
    for campaign in db.session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids),
                                                              Campaign.kind == CampaignKind.AUTOMATION)):
        # Deliveries have no foreign key to their campaign (mailer.campaigns.delete_campaign deletes them too).
        db.session.execute(delete(Delivery).where(Delivery.campaign_id == campaign.id))
        db.session.delete(campaign)
    db.session.commit()


def _all_message_ids(automation: Automation) -> set[int]:
    """Every message any of its versions, or its draft, sends."""
    definitions = [Definition(d) for d in db.session.scalars(
        select(AutomationVersion.definition).where(AutomationVersion.automation_id == automation.id))]
    ids = {i for definition in definitions for i in definition.campaign_ids()}
    return ids | set(message_ids(automation.draft))


def _messages_status(automation: Automation, status: CampaignStatus) -> None:
    ids = _all_message_ids(automation)
    if ids:
        db.session.execute(update(Campaign).where(Campaign.id.in_(ids), Campaign.kind == CampaignKind.AUTOMATION)
                           .values(status=status, started_at=func.coalesce(Campaign.started_at, utcnow())))


def move_preview(automation: Automation) -> list[dict[str, Any]]:
    """Where the waiting runs of older versions would land on the current one: per (version, step), how many runs,
    and the step of the same key and type on the current version (None: they stay on theirs)."""
    if automation.version_id is None:
        return []
    current = Definition(db.session.get(AutomationVersion, automation.version_id).definition)  # type: ignore[union-attr]
    rows = db.session.execute(
        select(AutomationVersion.id, AutomationVersion.number, AutomationVersion.definition, Run.step, func.count())
        .join(Run, Run.version_id == AutomationVersion.id)
        .where(Run.automation_id == automation.id, Run.state == RunState.WAITING,
               Run.version_id != automation.version_id)
        .group_by(AutomationVersion.id, AutomationVersion.number, Run.step)
        .order_by(AutomationVersion.number, Run.step))
    preview = []
    for version_id, number, definition, step, count in rows:
        old_type = (definition.get("steps") or {}).get(step, {}).get("type")
        lands = step if step == "" or (step in current.steps and current.step(step)["type"] == old_type) else None
        preview.append({"version_id": version_id, "version": number, "step": step, "runs": count, "lands": lands})
    return preview


def move_runs(automation: Automation) -> int:
    """Move the waiting runs of older versions onto the current one where ``move_preview`` says they land (the same
    step); return how many moved. The others stay on their version."""
    moved = 0
    for row in move_preview(automation):
        if row["lands"] is not None:
            moved += db.session.execute(update(Run).where(
                Run.automation_id == automation.id, Run.version_id == row["version_id"], Run.step == row["step"],
                Run.state == RunState.WAITING).values(version_id=automation.version_id)).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return moved
