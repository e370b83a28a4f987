"""An A/B test's results: each variant's figures, the verdict of a two-proportion test, and the winner chosen.

Figures count people only, as docs/architecture.md defines them: a variant's unique opens and clicks are its
deliveries whose first_open_at / first_click_at the flusher set (people's; a machine's open never sets them),
over its delivered messages (sent − bounced). Machines' opens are shown apart and never decide anything.
The test phase's figures are those of the variants' deliveries; the rest of the audience (variant 0, held until the
winner is chosen, then sent it) is counted apart.

The send reconciler's signal (core/signals.py ``reconciling``, every KAIRAN_RECONCILE_SECONDS) chooses the winner of
each test whose wait is over (``decide_due_tests``), on the one clock (core/clock.py), once the opens and clicks made
before then are stored, unless its editor chose to decide by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import format_percent
from flask_babel import gettext as _
from sqlalchemy import case, distinct, func, select
from sqlalchemy.sql.functions import count

from core.db import db, utcnow
from mailer import ab
from mailer.ab_stats import CONFIDENCE, Comparison, sample_size, two_proportion_test
from mailer.errors import CampaignStatusError
from mailer.models import ABTest, Campaign, CampaignStatus, Delivery, DeliveryStatus, WinnerMeasure
from mailer.queries import REST_VARIANT
from mailer.starting import send_winner
from tracking.flush import flushed_to_now
from tracking.metrics import rate
from tracking.models import Bounce, BounceType, Conversion, EventKind, TrackingEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VariantFigures:
    """One variant's deliveries in one phase and what people did with them."""

    position: int
    label: str
    recipients: int = 0
    sent: int = 0
    bounced: int = 0
    opened: int = 0  # by a person (a click counts as an open)
    clicked: int = 0  # by a person
    machine_opened: int = 0  # opened only by machines (Apple's prefetch, scanners): never counted
    conversions: int | None = None  # the test phase's converted recipients; None for the rest

    @property
    def delivered(self) -> int:
        """Sent − bounced, the rates' denominator."""
        return self.sent - self.bounced

    @property
    def open_rate(self) -> float | None:
        """People's unique opens over delivered."""
        return rate(self.opened, self.delivered)

    @property
    def click_rate(self) -> float | None:
        """People's unique clicks over delivered."""
        return rate(self.clicked, self.delivered)

    @property
    def conversion_rate(self) -> float | None:
        """Conversions over delivered, once they are counted."""
        return None if self.conversions is None else rate(self.conversions, self.delivered)

    def successes(self, measure: WinnerMeasure) -> int | None:
        """What the measure counts for this variant (None: conversions of the rest, not counted)."""
        return {WinnerMeasure.OPENS: self.opened, WinnerMeasure.CLICKS: self.clicked,
                WinnerMeasure.CONVERSIONS: self.conversions}[measure]

    def as_dict(self) -> dict[str, Any]:
        """The figures as the API answers them."""
        return {"label": self.label, "recipients": self.recipients, "sent": self.sent, "bounced": self.bounced,
                "delivered": self.delivered, "unique_opens": self.opened, "unique_clicks": self.clicked,
                "machine_opens": self.machine_opened, "conversions": self.conversions,
                "open_rate": self.open_rate, "click_rate": self.click_rate, "conversion_rate": self.conversion_rate}


def conversions_by_variant(test: ABTest) -> dict[int, int]:
    """Recipients of the test phase who converted (a purchase attributed to their message: automations/conversions.py),
    per variant position."""
    converted = (select(Delivery.variant, count(distinct(Conversion.delivery_id)))
                 .join(Delivery, Delivery.id == Conversion.delivery_id)
                 .where(Conversion.campaign_id == test.campaign_id, Delivery.variant != REST_VARIANT))
    return {variant: int(number) for variant, number in db.session.execute(converted.group_by(Delivery.variant))}


def figures(test: ABTest) -> tuple[list[VariantFigures], VariantFigures | None]:
    """Each variant's test-phase figures, and those of the rest of the audience (held until the winner is chosen, then
    sent it; None when the test has no rest)."""
    campaign_id = test.campaign_id
    totals = db.session.execute(
        select(Delivery.variant, count(), func.count(case((Delivery.status == DeliveryStatus.SENT, 1))),
               func.count(Delivery.first_open_at), func.count(Delivery.first_click_at))
        .where(Delivery.campaign_id == campaign_id).group_by(Delivery.variant)).all()
    bounced = dict(db.session.execute(
        select(Delivery.variant, count(distinct(Bounce.delivery_id)))
        .join(Delivery, Delivery.id == Bounce.delivery_id)
        .where(Bounce.campaign_id == campaign_id, Bounce.type != BounceType.COMPLAINT,
               Delivery.status == DeliveryStatus.SENT).group_by(Delivery.variant)).all())
    machine = dict(db.session.execute(
        select(Delivery.variant, count(distinct(TrackingEvent.delivery_id)))
        .join(Delivery, Delivery.id == TrackingEvent.delivery_id)
        .where(TrackingEvent.campaign_id == campaign_id, TrackingEvent.kind == EventKind.OPEN,
               TrackingEvent.human.is_(False), Delivery.first_open_at.is_(None))
        .group_by(Delivery.variant)).all())
    conversions = conversions_by_variant(test)
    found = {variant: (recipients, sent, opened, clicked) for variant, recipients, sent, opened, clicked in totals}

    def of(variant: int, position: int) -> VariantFigures:
        recipients, sent, opened, clicked = found.get(variant, (0, 0, 0, 0))
        return VariantFigures(position, ab.label(position), recipients, sent, bounced.get(variant, 0), opened,
                              clicked, machine.get(variant, 0),
                              None if variant == REST_VARIANT else conversions.get(position, 0))

    variants = [of(v.position, v.position) for v in test.variants]
    rest = of(REST_VARIANT, test.winner or 0) if REST_VARIANT in found else None
    return variants, rest


def _rate(figures_: VariantFigures, measure: WinnerMeasure) -> float | None:
    successes = figures_.successes(measure)
    return None if successes is None else rate(successes, figures_.delivered)


def ranked(variants: list[VariantFigures], measure: WinnerMeasure) -> list[VariantFigures]:
    """The variants best first by the measure's rate (people only); a tie goes to the earlier variant."""
    return sorted(variants, key=lambda v: (-(_rate(v, measure) or 0.0), v.position))


@dataclass(frozen=True)
class Verdict:
    """What the test says: the leader against the runner-up, and whether the sample can call it."""

    leader: VariantFigures
    runner_up: VariantFigures
    comparison: Comparison | None
    needed: int | None  # recipients per variant to tell the two observed rates apart (None: equal rates)
    statement: str

    @property
    def called(self) -> bool:
        """Whether the difference is significant at CONFIDENCE."""
        return self.comparison is not None and self.comparison.significant


def _percent(value: float) -> str:
    return format_percent(value, "#,##0.0%")


def _p(p_value: float) -> str:
    """A p-value as a statement shows it: three decimals, and below 0.001 said so (never "0.000")."""
    return "< 0.001" if p_value < 0.001 else f"= {p_value:.3f}"


def verdict(test: ABTest, variants: list[VariantFigures]) -> Verdict | None:
    """Compare the leader with the runner-up on the test's measure."""
    measure = test.measure
    leader, runner_up = ranked(variants, measure)[:2]
    comparison = two_proportion_test(runner_up.successes(measure) or 0, runner_up.delivered,
                                     leader.successes(measure) or 0, leader.delivered)
    needed = sample_size(comparison.rate_a, comparison.rate_b) if comparison else None
    names = {WinnerMeasure.OPENS: _("open rate"), WinnerMeasure.CLICKS: _("click rate"),
             WinnerMeasure.CONVERSIONS: _("conversion rate")}
    name = names[measure]
    if comparison is None:
        statement = _("Nothing has been delivered yet: there is nothing to compare.")
    elif comparison.significant:
        statement = _("Variant %(leader)s's %(measure)s (%(leading)s) is higher than %(runner)s's (%(other)s) with "
                      "%(confidence)s confidence (two-proportion z-test, p %(p)s).", leader=leader.label,
                      measure=name, leading=_percent(comparison.rate_b), runner=runner_up.label,
                      other=_percent(comparison.rate_a), confidence=_percent(CONFIDENCE),
                      p=_p(comparison.p_value))
    elif needed is None:
        statement = _("Too small to call: %(leader)s and %(runner)s have the same %(measure)s (%(rate)s).",
                      leader=leader.label, runner=runner_up.label, measure=name, rate=_percent(comparison.rate_b))
    else:
        statement = _("Too small to call: the difference between %(leader)s's %(measure)s (%(leading)s) and "
                      "%(runner)s's (%(other)s) could be chance (p %(p)s). Telling these rates apart with 95 %% "
                      "confidence and 80 %% power needs about %(needed)s recipients per variant; each had about "
                      "%(had)s.", leader=leader.label, measure=name, leading=_percent(comparison.rate_b),
                      runner=runner_up.label, other=_percent(comparison.rate_a), p=_p(comparison.p_value),
                      needed=f"{needed:,}", had=f"{min(leader.delivered, runner_up.delivered):,}")
    return Verdict(leader, runner_up, comparison, needed, statement)


def decide_due_tests(_sender: object = None, **_extra: Any) -> int:
    """Choose the winner of every test whose wait is over (not those decided by hand) and send it to the rest;
    return how many were decided. Run on the send reconciler's signal.

    Every open and click made before the wait was over counts: the events appended to the stream by the time the
    tests are found due are stored first. The reconciler's own flush, just before, may have come too early for some,
    or found another worker's flusher at work; a test waits for the next reconcile rather than be decided without
    them (a click in its last second could otherwise lose it, and a clock moved on at once, all of them).
    """
    due = db.session.execute(select(ABTest, Campaign).join(Campaign, Campaign.id == ABTest.campaign_id).where(
        ABTest.winner.is_(None), ABTest.manual.is_(False), ABTest.decide_at <= utcnow(),
        ABTest.test_share < ab.SPLIT_SHARE, Campaign.status == CampaignStatus.RUNNING)).all()
    if due and not flushed_to_now():
        log.info("%d A/B test(s) due wait for opens and clicks not stored yet", len(due))
        return 0
    decided = 0
    for test, campaign in due:
        variants, _rest = figures(test)
        winner = ranked(variants, test.measure)[0]
        try:
            added = send_winner(campaign, winner.position, "auto")
        except CampaignStatusError:  # an editor chose it meanwhile: theirs stands
            continue
        log.info("campaign %d: A/B test won by %s on %s; %d more recipients get it", campaign.id, winner.label,
                 test.measure.value, added)
        decided += 1
    return decided


def test_report(campaign: Campaign) -> dict[str, Any] | None:
    """What the report page and the API show of a campaign's A/B test (None: it has none)."""
    test = ab.test_of(campaign)
    if test is None:
        return None
    variants, rest = figures(test)
    found = verdict(test, variants)
    return {"test": test, "variants": variants, "rest": rest if test.winner else None,
            "held": rest.recipients if rest and not test.winner else 0, "verdict": found,
            "awaiting": test.winner is None and test.test_share < ab.SPLIT_SHARE and campaign.started_at is not None,
            "winner_label": ab.label(test.winner) if test.winner else None}


def test_report_as_dict(campaign: Campaign) -> dict[str, Any] | None:
    """The A/B test's results as the API answers them."""
    report = test_report(campaign)
    if report is None:
        return None
    found: Verdict | None = report["verdict"]
    test: ABTest = report["test"]
    return {
        "measure": test.measure.value, "test_share": test.test_share, "winner": report["winner_label"],
        "decided_by": test.decided_by, "decide_at": _iso(test.decide_at), "decided_at": _iso(test.decided_at),
        "variants": [v.as_dict() for v in report["variants"]],
        "rest": report["rest"].as_dict() if report["rest"] else None, "held": report["held"],
        "verdict": None if found is None else {
            "leader": found.leader.label, "runner_up": found.runner_up.label, "called": found.called,
            "z": found.comparison.z if found.comparison else None,
            "p_value": found.comparison.p_value if found.comparison else None,
            "needed_per_variant": found.needed, "statement": found.statement},
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None

