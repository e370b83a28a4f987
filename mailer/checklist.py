"""mailer's steps of the setup checklist (core/checklist.py): a sending domain whose DKIM record was found
published, a relay whose test passed, the bounce domain's MX, a test mail sent. The DNS lookups are slow, so a
step is recorded done when the domain page's check or the relay's test found it so, not looked up per page."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import exists, select

from core.checklist import Step
from core.db import db
from mailer.models import SendingDomain

DKIM, BOUNCE_MX, RELAY, TEST_MAIL = "dkim", "bounce_mx", "relay", "test_mail"


def steps(recorded: set[str]) -> list[Step]:
    """mailer's steps, with what each still needs."""
    has_domain = bool(db.session.scalar(select(exists().where(SendingDomain.id.is_not(None)))))
    domains = url_for("domains.index")
    return [
        Step(DKIM, _("A sending domain with DKIM published"), has_domain and DKIM in recorded, domains,
             _("Add your domain, publish its DKIM record, then press Check DNS.") if not has_domain
             else _("Publish the DKIM record, then press Check DNS.")),
        Step(RELAY, _("A relay that passed its test"), RELAY in recorded, url_for("relays.index"),
             _("Add your provider's SMTP relay and press Test.")),
        Step(BOUNCE_MX, _("The bounce domain's MX"), has_domain and BOUNCE_MX in recorded, domains,
             _("Publish the MX record of the bounce domain, then press Check DNS.")),
        Step(TEST_MAIL, _("A test mail sent"), TEST_MAIL in recorded, url_for("mailer.outbox"),
             _("Send the test message from the Outbox, or a campaign's test.")),
    ]
