"""A/B tests: a campaign's 2–5 variants, tried on a share of its audience, then the winner sent to the rest.

Each variant may change the subject, the sender's name, the preheader and the content; what it leaves
empty is the campaign's own. Who gets which variant is decided in the database, when the audience is
materialised (mailer/queries.py ``Split``): a keyed hash of the subscriber id with the test's own random
key, so a subscriber's variant never changes and nobody can be put in a group by hand. The test phase
materialises only the test share; when the wait is over tracking/ab_results.py chooses the winner (or the
editor does, by hand), and ``send_winner`` materialises the rest, held until then, with the winner. A
share of 100 % is a plain split: every recipient gets a variant, and there is no winner phase.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from email.utils import parseaddr
from typing import Any, cast

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import CursorResult, exists, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from core.db import db, utcnow
from core.errors import NotFoundError
from core.oneline import one_line
from core.validation import FieldChecks
from mailer import queries
from mailer.ab_stats import needed_per_variant
from mailer.campaigns import checked_template, editable, save_campaign, sender_of
from mailer.errors import ABTestError, CampaignStatusError
from mailer.models import ABTest, Campaign, CampaignStatus, ContentType, Variant, WinnerMeasure

LABELS = "ABCDE"  # a variant's name by its position (1: A)
MIN_VARIANTS, MAX_VARIANTS = 2, 5
MIN_SHARE, MAX_SHARE, SPLIT_SHARE = 10, 50, 100  # percent of the audience in the test phase; 100: a plain split
MIN_WAIT_HOURS, MAX_WAIT_HOURS = 1, 72
WHOLE = re.compile(r"[0-9]{1,6}")
VARIANT_FIELDS = ("subject", "from_name", "preheader", "content_type", "body", "body_source", "altbody")


def label(position: int) -> str:
    """A variant's letter: A for the first."""
    return LABELS[position - 1] if 1 <= position <= len(LABELS) else str(position)


def test_of(campaign: Campaign) -> ABTest | None:
    """Return a campaign's A/B test, if it has one."""
    return db.session.get(ABTest, campaign.id)


def _share(raw: Any) -> int:
    value = _integer(raw, "test_share")
    if value != SPLIT_SHARE and not MIN_SHARE <= value <= MAX_SHARE:
        raise ABTestError(_("The test share must be 10 to 50 percent of the audience, or 100 for a plain split "
                            "with no winner phase (got %(value)s).", value=value), field="test_share")
    return value


def _wait(raw: Any) -> int:
    value = _integer(raw, "wait_hours")
    if not MIN_WAIT_HOURS <= value <= MAX_WAIT_HOURS:
        raise ABTestError(_("The wait before the winner is chosen must be 1 to 72 hours (got %(value)s).",
                            value=value), field="wait_hours")
    return value


def _integer(raw: Any, field: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not WHOLE.fullmatch(str(raw).strip()):
        raise ABTestError(_("%(field)s must be a whole number.", field=field), field=field)
    return int(str(raw).strip())


def _measure(raw: Any) -> WinnerMeasure:
    try:
        return WinnerMeasure(raw if raw not in (None, "") else WinnerMeasure.OPENS)
    except (ValueError, TypeError):
        raise ABTestError(_("The winning measure must be one of: %(allowed)s (got %(value)s).",
                            allowed=", ".join(m.value for m in WinnerMeasure), value=raw), field="measure") from None


def _variant_fields(raw: Any, position: int) -> dict[str, Any]:
    """Check one variant's fields as the campaign's are checked; empty ones are the campaign's."""
    if not isinstance(raw, dict):
        raise ABTestError(_("Each variant must be an object of fields."), field="variants")
    where = _("Variant %(label)s", label=label(position))
    subject = one_line(raw.get("subject"), f"{where}: {_('Subject')}") or None
    from_name = one_line(raw.get("from_name"), f"{where}: {_('From name')}", fold=False) or None
    body = str(raw.get("body") or "") or None
    content_type = raw.get("content_type") or None
    if content_type is not None and str(content_type) not in {c.value for c in ContentType}:
        raise ABTestError(_("%(where)s: content_type must be one of: %(allowed)s.", where=where,
                            allowed=", ".join(c.value for c in ContentType)), field="variants")
    altbody = str(raw.get("altbody") or "") or None
    preheader = one_line(raw.get("preheader"), f"{where}: {_('Preheader')}") or None
    for value, name, most in ((subject, _("Subject"), 500), (from_name, _("From name"), 200),
                              (preheader, _("Preheader"), 300)):  # the columns' lengths
        if value and len(value) > most:
            raise ABTestError(_("%(where)s: %(field)s may be %(most)d characters at most.", where=where, field=name,
                                most=most), field="variants")
    return {
        "subject": checked_template(subject, f"{where}: {_('Subject')}").source if subject else None,
        "from_name": from_name,
        "preheader": preheader,
        "content_type": ContentType(str(content_type)) if body and content_type else None,
        "body": checked_template(body, f"{where}: {_('Body')}").source if body else None,
        "body_source": raw.get("body_source") if body and isinstance(raw.get("body_source"), dict) else None,
        "altbody": checked_template(altbody, f"{where}: {_('Plain text')}").source if altbody else None,
    }


def read_test(data: Any, current: ABTest | None) -> dict[str, Any] | None:
    """Read and check an A/B test's fields (the API's ``ab_test``; None removes the test), before anything is saved;
    fields left out keep the current test's values."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ABTestError(_("ab_test must be an object (or null to remove the test)."), field="ab_test")
    raw_variants = data.get("variants", None if current is None else [_variant_dict(v) for v in current.variants])
    if not isinstance(raw_variants, list) or not MIN_VARIANTS <= len(raw_variants) <= MAX_VARIANTS:
        count = len(raw_variants) if isinstance(raw_variants, list) else 0
        raise ABTestError(_("An A/B test needs 2 to 5 variants (got %(count)d).", count=count), field="variants")
    manual = data.get("manual", current.manual if current else False)
    if not isinstance(manual, bool):
        raise ABTestError(_("manual must be true or false."), field="manual")
    return {"test_share": _share(data.get("test_share", current.test_share if current else 20)),
            "wait_hours": _wait(data.get("wait_hours", current.wait_hours if current else 4)),
            "measure": _measure(data.get("measure", current.measure if current else None)), "manual": manual,
            "variants": [_variant_fields(raw, position) for position, raw in enumerate(raw_variants, start=1)]}


def _require_unsent(campaign: Campaign) -> None:
    if not editable(campaign) or campaign.started_at is not None:
        raise CampaignStatusError(_("An A/B test can only be changed before the campaign is sent."))


def save_test(campaign: Campaign, values: dict[str, Any] | None) -> ABTest | None:
    """Set a campaign's A/B test from read_test's values, or remove it (None); in the caller's transaction."""
    _require_unsent(campaign)
    current = test_of(campaign)
    if values is None:
        if current is not None:
            db.session.delete(current)
        return None
    test = current or ABTest(campaign_id=campaign.id, key_a=secrets.randbelow(queries.HASH_PRIME - 1) + 1,
                             key_b=secrets.randbelow(queries.HASH_PRIME))
    test.test_share, test.wait_hours = values["test_share"], values["wait_hours"]
    test.measure, test.manual = values["measure"], values["manual"]
    if current is None:
        db.session.add(test)
    existing = {v.position: v for v in test.variants}
    test.variants = [_apply(existing.get(position) or Variant(position=position), fields)
                     for position, fields in enumerate(values["variants"], start=1)]
    campaign.updated_at = utcnow()  # the send compiles variants with the campaign, by its updated_at
    return test


def save_campaign_and_test(campaign: Campaign | None, data: dict[str, Any], uuid: str | None = None, *,
                           names: Mapping[str, Any] | None = None) -> tuple[Campaign, list[str]]:
    """Save a campaign as campaigns.save_campaign does, and its A/B test when ``data`` has ``ab_test`` (read and
    checked first, and refused with the campaign's fields, so a refused test leaves the campaign as it was).

    ``names``: how messages name the fields (the form's labels; the API's parameters when None).
    """
    checks = FieldChecks(names)
    if "ab_test" not in data:
        return save_campaign(campaign, data, uuid, checks=checks)
    if campaign is not None:
        _require_unsent(campaign)
    values = checks.run("ab_test", lambda: read_test(data["ab_test"], test_of(campaign) if campaign else None), None)
    saved, warnings = save_campaign(campaign, data, uuid, checks=checks)
    save_test(saved, values)
    db.session.commit()
    return saved, warnings


def _apply(variant: Variant, values: dict[str, Any]) -> Variant:
    for key, value in values.items():
        setattr(variant, key, value)
    return variant


def save_variant(campaign: Campaign, position: int, data: dict[str, Any]) -> Variant:
    """Change one variant from its editor's form (the campaign's editor, for one variant); commit."""
    test = test_of(campaign)
    variant = next((v for v in test.variants if v.position == position), None) if test else None
    if test is None or variant is None:
        raise NotFoundError(_("Variant not found."))
    _require_unsent(campaign)
    fields = {**_variant_dict(variant), **{k: v for k, v in data.items() if k in VARIANT_FIELDS}}
    if fields.get("body") and not fields.get("content_type"):
        fields["content_type"] = campaign.content_type.value
    _apply(variant, _variant_fields(fields, position))
    campaign.updated_at = utcnow()
    db.session.commit()
    return variant


def _variant_dict(variant: Variant) -> dict[str, Any]:
    return {"subject": variant.subject, "from_name": variant.from_name, "preheader": variant.preheader,
            "content_type": variant.content_type.value if variant.content_type else None, "body": variant.body,
            "body_source": variant.body_source, "altbody": variant.altbody}


def as_sent(campaign: Campaign, variant: Variant | None) -> Campaign:
    """The campaign as one variant's readers get it: a copy, outside the session, with the variant's fields over
    the campaign's (None: the campaign itself). The send, the preview and the test send all render this."""
    if variant is None:
        return campaign
    copy = Campaign(**{column.key: getattr(campaign, column.key) for column in Campaign.__table__.columns})
    copy.template = campaign.template
    copy.subject = variant.subject or campaign.subject
    copy.preheader = variant.preheader or campaign.preheader
    if variant.from_name:
        address = parseaddr(sender_of(campaign))[1]
        quoted = variant.from_name.replace("\\", "\\\\").replace('"', '\\"')
        copy.from_email = f'"{quoted}" <{address}>'
    if variant.body:
        copy.content_type = variant.content_type or campaign.content_type
        copy.body, copy.body_source, copy.altbody = variant.body, variant.body_source, variant.altbody
    return copy


def variant_at(campaign: Campaign, position: int) -> Variant | None:
    """Return a campaign's variant by position (None when the campaign has no test or no such variant)."""
    test = test_of(campaign)
    return next((v for v in test.variants if v.position == position), None) if test else None


def split_of(test: ABTest) -> queries.Split:
    """The test's split of the audience: its test share spread over the variants, the rest held for the winner."""
    return queries.Split(test.key_a, test.key_b, test.test_share, len(test.variants))


def position_sent(campaign: Campaign, variant: int) -> int:
    """The variant a delivery's reader gets: its own, or, for the rest of an A/B test's audience, the winner."""
    test = test_of(campaign) if variant == queries.REST_VARIANT else None
    return test.winner if test is not None and test.winner is not None else variant


def decide_at(test: ABTest) -> None:
    """Set when the test phase ends, as it starts (a plain split has no winner phase)."""
    if test.test_share < SPLIT_SHARE:
        test.decide_at = utcnow() + timedelta(hours=test.wait_hours)


def awaiting_winner(campaign_id: Any) -> ColumnElement[bool]:
    """SQL: the campaign's test phase is on and the rest of its audience is held (it is not finished then)."""
    return exists().where(ABTest.campaign_id == campaign_id, ABTest.winner.is_(None),
                          ABTest.test_share < SPLIT_SHARE)


def claim_winner(campaign: Campaign, position: int, decided_by: str) -> ABTest:
    """Record the winner (in the caller's transaction, which then releases the rest: mailer/starting.py).

    One conditional UPDATE claims the decision: of two deciders at once (the periodic check and an editor), one
    wins and the other is told.
    """
    test = test_of(campaign)
    if test is None or test.test_share == SPLIT_SHARE:
        raise ABTestError(_("This campaign has no A/B test with a winner to choose."), field="winner")
    if not 1 <= position <= len(test.variants):
        raise ABTestError(_("Choose a variant from A to %(last)s.", last=label(len(test.variants))), field="winner")
    if campaign.started_at is None or campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.PAUSED):
        raise CampaignStatusError(_("The winner can be chosen once the test phase has been sent, while the campaign "
                                    "is running or paused."))
    claimed = cast(CursorResult[Any], db.session.execute(
        update(ABTest).where(ABTest.campaign_id == campaign.id, ABTest.winner.is_(None))
        .values(winner=position, decided_at=utcnow(), decided_by=decided_by)))
    if not claimed.rowcount:
        db.session.rollback()
        raise CampaignStatusError(_("The winner of this test has already been chosen."))
    db.session.refresh(test)
    return test


def warning(campaign: Campaign, test: ABTest | None, audience: int) -> str | None:
    """Say before sending when the audience is too small for the test to tell its variants apart (or None)."""
    if test is None or not test.variants:
        return None
    per_variant = audience * test.test_share // 100 // len(test.variants)
    needed = needed_per_variant(test.measure.value)
    if per_variant >= needed:
        return None
    return ngettext(
        "The audience is too small for this A/B test: each variant's test group would have %(num)d recipient, "
        "and telling apart rates like those of a typical campaign needs about %(needed)s per variant. The winner "
        "may be chosen by chance: test fewer variants, a larger share, or send without a test.",
        "The audience is too small for this A/B test: each variant's test group would have %(num)d recipients, "
        "and telling apart rates like those of a typical campaign needs about %(needed)s per variant. The winner "
        "may be chosen by chance: test fewer variants, a larger share, or send without a test.",
        per_variant, needed=f"{needed:,}")


def tests_of(campaign_ids: list[int]) -> dict[int, ABTest]:
    """The A/B tests of these campaigns, with their variants, in two queries."""
    if not campaign_ids:
        return {}
    return {test.campaign_id: test for test in db.session.scalars(
        select(ABTest).where(ABTest.campaign_id.in_(campaign_ids)).options(selectinload(ABTest.variants)))}


def test_as_dict(campaign: Campaign, test: ABTest | None, *, audience: int | None = None) -> dict[str, Any] | None:
    """A campaign's A/B test as the API shows it (with the warning when the audience is given)."""
    if test is None:
        return None
    return {
        "test_share": test.test_share, "wait_hours": test.wait_hours, "measure": test.measure.value,
        "manual": test.manual, "decide_at": test.decide_at.isoformat() if test.decide_at else None,
        "winner": label(test.winner) if test.winner else None,
        "decided_at": test.decided_at.isoformat() if test.decided_at else None, "decided_by": test.decided_by,
        "variants": [{"label": label(v.position), **_variant_dict(v)} for v in test.variants],
        **({"warning": warning(campaign, test, audience)} if audience is not None else {}),
    }
