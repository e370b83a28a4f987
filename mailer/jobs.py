"""Kairan's own mail: the test message, opt-in confirmations and campaign test sends.

Each is a Letter that mailer.tx delivers, one job per message on the "tx" queue: the same
pipeline as every message (render, build, sign, transport, record), and the same refusals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db
from core.errors import ValidationError
from core.tokens import Purpose, make_token
from lists.addresses import address_key, normalise_email
from lists.models import MailingList, Subscriber
from mailer import ab
from mailer.campaigns import compile_campaign, get_campaign
from mailer.message import SendContext, campaign_message
from mailer.mime import mailbox
from mailer.models import Campaign
from mailer.pipeline import Composed
from mailer.previews import check_sendable
from mailer.tx import Letter, assemble, enqueue, refusal


def _render(template: str, **context: Any) -> tuple[str, str]:
    """Render templates/mailer/<template>.html and .txt; return (html, text)."""
    return (render_template(f"mailer/{template}.html", **context),
            render_template(f"mailer/{template}.txt", **context))


@dataclass(frozen=True)
class TestMessage(Letter):
    """A short test message, in the sender's language, that checks the whole path to the relay."""

    is_test = True

    to: str
    language: str

    def compose(self) -> Composed:
        """Render, build and sign."""
        with current_app.test_request_context(), force_locale(self.language):
            html, text = _render("test_message", base_url=current_app.config["KAIRAN"].base_url)
            return assemble(("", self.to), _("Kairan test message"), html, text)


@dataclass(frozen=True)
class OptinMail(Letter):
    """The double opt-in confirmation mail, with its signed link."""

    subscriber_id: int
    list_ids: tuple[int, ...]
    language: str

    def compose(self) -> Composed | None:
        """Render, build and sign; None when the subscriber or the lists are gone."""
        subscriber = db.session.get(Subscriber, self.subscriber_id)
        lists = list(db.session.scalars(select(MailingList).where(MailingList.id.in_(self.list_ids))))
        if subscriber is None or not lists:
            return None
        settings = current_app.config["KAIRAN"]
        with current_app.test_request_context(base_url=settings.base_url), force_locale(self.language):
            link = url_for("public.optin", subscriber_uuid=subscriber.uuid,
                           t=make_token(Purpose.OPTIN, subscriber.uuid), l=[m.uuid for m in lists], _external=True)
            html, text = _render("optin", link=link, lists=lists, company=settings.company_name)
            return assemble((subscriber.name, subscriber.email), _("Please confirm your subscription"), html, text)


def subject_prefix(language: str) -> str:
    """A test send's subject's start: KAIRAN_TEST_SUBJECT_PREFIX, else [テスト] or [Test] in the sender's language."""
    configured = current_app.config["KAIRAN"].test_subject_prefix
    if configured:
        return str(configured)
    with force_locale(language):
        return _("[Test]")


@dataclass(frozen=True)
class CampaignTest(Letter):
    """A campaign rendered for one reader exactly as the send will, to a typed address; never counted.

    Its subject says it is a test, and its links change nothing, whoever it is rendered for.
    """

    is_test = True

    campaign_id: int
    reader_id: int | None
    to: str
    language: str = "en"  # the sender's UI language (the subject's prefix)
    variant: int = 0  # an A/B test's variant (position) it shows; 0: the campaign itself

    def compose(self) -> Composed:
        """Build with the campaign's own builder, so the test carries every header the send will."""
        campaign = get_campaign(self.campaign_id)
        campaign = ab.as_sent(campaign, ab.variant_at(campaign, self.variant))
        context = SendContext.of(campaign, compile_campaign(campaign))
        # As listmonk does, a test to a subscriber's own address is personalised for them.
        reader = (db.session.get(Subscriber, self.reader_id) if self.reader_id else
                  db.session.scalar(select(Subscriber).where(Subscriber.email_key == address_key(self.to))))
        built, message_id = campaign_message(context, reader, mailbox("", self.to), [(b"X-Kairan-Test", b"1")],
                                             test_prefix=subject_prefix(self.language))
        return Composed(context.sender, self.to, built, message_id)


def queue_test_message(to: str, language: str) -> None:
    """Queue the test message."""
    enqueue(TestMessage(to, language))


def queue_test_send(campaign: Campaign, reader: Subscriber | None, typed: Sequence[Any], variant: int = 0) -> list[str]:
    """Queue a test of a campaign (one A/B variant's, when given) to the addresses typed (the page's and the API's),
    rendered for reader.

    Return the addresses as they are sent to; refuse none given, one that is no address, or a charset
    that cannot carry the message.
    """
    addresses = [normalise_email(str(address)) for address in typed]
    if not addresses:
        raise ValidationError(_("Enter at least one address to send the test to."), field="addresses")
    check_sendable(ab.as_sent(campaign, ab.variant_at(campaign, variant)), reader)
    queue_campaign_test(campaign.id, reader.id if reader else None, addresses, variant)
    return addresses


def queue_campaign_test(campaign_id: int, reader_id: int | None, addresses: Sequence[str], variant: int = 0) -> None:
    """Queue a campaign's test send, one message per address; refuse (naming them) addresses never mailed.

    Called in the sender's request: its UI language says the subject's prefix. Each message is
    rendered here first, as the worker will: a template that fails says so to the editor
    (RenderError) instead of failing in a worker after the request said it was queued.
    """
    refused = [reason for reason in map(refusal, addresses) if reason]
    if refused:
        raise ValidationError("; ".join(refused), field="addresses")
    language = str(get_locale() or "en")
    letters = [CampaignTest(campaign_id, reader_id, to, language, variant) for to in addresses]
    for letter in letters:
        letter.compose()
    for letter in letters:
        enqueue(letter)


def queue_optin_mail(_sender: object, *, subscriber_id: int, list_ids: list[int], language: str) -> None:
    """Receive lists' optin_requested signal: a worker sends the confirmation mail."""
    enqueue(OptinMail(subscriber_id, tuple(list_ids), language))
