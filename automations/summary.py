"""Each automation's figures in a line, for its list and the home: how many entered it, how many reached its goal,
and the purchases its messages brought (tracking's conversions, by the run they were sent for)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask import render_template
from markupsafe import Markup
from sqlalchemy import func, select

from automations.models import Automation, AutomationStatus, AutomationVersion, Run, StepCount
from core.db import db
from tracking.models import Conversion
from tracking.revenue import major
from tracking.settings import CONVERSIONS

SHOWN = 8  # automations on the home: the live ones, most recently changed first


def converted_by_version(version_ids: list[int]) -> dict[int, int]:
    """Runs that reached a goal, per version (the step counts' running totals)."""
    converted: dict[int, int] = defaultdict(int)
    for version_id, number in db.session.execute(select(StepCount.version_id, StepCount.converted)
                                                 .where(StepCount.version_id.in_(version_ids))):
        converted[version_id] += int(number)
    return converted


@dataclass(frozen=True)
class Line:
    """One automation's figures."""

    automation: Automation
    entered: int  # runs that entered its first step (its current version's)
    converted: int  # runs that reached a goal
    purchases: int  # conversions its messages brought, in any version
    revenue: float  # of them, in the installation's currency (its units: yen, dollars)

    @property
    def rate(self) -> float | None:
        """The share of runs that reached a goal."""
        return self.converted / self.entered if self.entered else None


def lines(limit: int = SHOWN) -> list[Line]:
    """The live automations' figures (active, then paused), in four queries whatever their number of runs."""
    automations = list(db.session.scalars(
        select(Automation).where(Automation.status.in_((AutomationStatus.ACTIVE, AutomationStatus.PAUSED)))
        .order_by(Automation.status, Automation.updated_at.desc(), Automation.id.desc()).limit(limit)))
    version_ids = [a.version_id for a in automations if a.version_id]
    starts = {version_id: str((definition or {}).get("start")) for version_id, definition in db.session.execute(
        select(AutomationVersion.id, AutomationVersion.definition).where(AutomationVersion.id.in_(version_ids)))}
    entered = {version_id: int(number) for version_id, step, number in db.session.execute(
        select(StepCount.version_id, StepCount.step, StepCount.entered)
        .where(StepCount.version_id.in_(version_ids))) if starts.get(version_id) == step}
    converted = converted_by_version(version_ids)
    currency = CONVERSIONS.current().currency
    purchases = (select(Run.automation_id, func.count(Conversion.id),
                        func.sum(Conversion.amount).filter(Conversion.currency == currency))
                 .join(Run, Run.id == Conversion.run_id)
                 .where(Run.automation_id.in_([a.id for a in automations])).group_by(Run.automation_id))
    bought = {automation_id: (int(number), major(int(amount or 0), currency))
              for automation_id, number, amount in db.session.execute(purchases)}
    return [Line(a, entered.get(a.version_id or 0, 0), converted.get(a.version_id or 0, 0),
                 *bought.get(a.id, (0, 0))) for a in automations]


def panel() -> Markup | str:
    """The home's automations panel, or nothing while none is live."""
    found = lines()
    if not found:
        return ""
    return Markup(render_template("automations/_summary.html", lines=found,  # noqa: S704  (our template)
                                  currency=CONVERSIONS.current().currency))
