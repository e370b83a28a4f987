"""Anyone can mail the bounce address: only reports tied to our deliveries, or from a proven source, suppress."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from core.db import db
from lists.models import Suppression
from tracking.bounce_parser import Failure, Intake, Kind, Verdict
from tracking.bounces import record
from tracking.models import Bounce


def hard_bounce(address: str, token: str | None = None) -> Intake:
    return Intake(Kind.BOUNCE, failures=(Failure(address, Verdict.HARD, "5.1.1", "550 5.1.1 User unknown"),),
                  token=token)


def test_an_untied_report_is_kept_but_suppresses_nothing(app: Flask) -> None:
    with app.app_context():
        # Forged: no token of ours, or one with a bad signature, and no Message-ID we sent.
        for intake in (hard_bounce("taro@example.jp"), hard_bounce("taro@example.jp", "2a-0123456789abcdef")):
            [bounce] = record(intake, "smtp")
            assert (bounce.email, bounce.delivery_id, bounce.campaign_id) == ("taro@example.jp", None, None)
        assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0
        assert db.session.scalar(select(func.count()).select_from(Bounce)) == 2


def test_an_authenticated_source_suppresses_without_a_delivery(app: Flask) -> None:
    with app.app_context():
        record(hard_bounce("hanako@example.jp"), "ses", authenticated=True)
        assert db.session.scalar(select(Suppression.reason).where(Suppression.value == "hanako@example.jp")) \
            == "hard_bounce"


def test_a_delay_warning_is_not_recorded_as_a_bounce(app: Flask) -> None:
    delayed = Intake(Kind.BOUNCE, failures=(Failure("jiro@example.jp", Verdict.SOFT, "4.4.7", "Envelope expired",
                                                    temporary=True, delayed=True),))
    with app.app_context():
        assert record(delayed, "smtp", authenticated=True) == []
        assert db.session.scalar(select(func.count()).select_from(Bounce)) == 0
