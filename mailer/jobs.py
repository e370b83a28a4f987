"""RQ jobs of the mailer: Kairan's own mail (test messages, opt-in confirmations)."""

from __future__ import annotations

import email.policy
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Any

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db
from core.queues import queue
from core.tokens import Purpose, make_token
from lists.addresses import address_key
from lists.models import MailingList, Subscriber
from mailer import transport
from mailer.campaigns import compile_campaign, get_campaign
from mailer.mime import mailbox, quoted
from mailer.sending import Batch, campaign_message


def _deliver(to: str, subject: str, text: str, html: str, *, from_: str = "",
             headers: Sequence[tuple[str, str]] = ()) -> str:
    """Send one message with a text and an HTML part; return its Message-ID."""
    from_ = from_ or current_app.config["KAIRAN"].mail_from
    sender = parseaddr(from_)[1]
    # CRLF line endings: smtplib sends bytes as they are, and SMTP lines end in CRLF.
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = subject
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["From"] = from_
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    for name, value in headers:
        message[name] = value
    transport.send(sender, [to], message.as_bytes())
    return str(message["Message-ID"])


def _send(to: str, subject: str, template: str, **context: Any) -> str:
    """Render templates/mailer/<template>.txt and .html into one message and send it; return its Message-ID."""
    return _deliver(to, subject, render_template(f"mailer/{template}.txt", **context),
                    render_template(f"mailer/{template}.html", **context))


def send_test_message(to: str, language: str) -> str:
    """Send a short test message, in the sender's language, through the configured relay."""
    with current_app.test_request_context(), force_locale(language):
        return _send(to, _("Kairan test message"), "test_message", base_url=current_app.config["KAIRAN"].base_url)


def send_optin_mail(subscriber_id: int, list_ids: list[int], language: str) -> str | None:
    """Send the double opt-in confirmation mail with its signed link; nothing when there is nobody to ask."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    lists = list(db.session.scalars(db.select(MailingList).where(MailingList.id.in_(list_ids))))
    if subscriber is None or not lists:
        return None
    settings = current_app.config["KAIRAN"]
    with current_app.test_request_context(base_url=settings.base_url), force_locale(language):
        link = url_for("public.optin", subscriber_uuid=subscriber.uuid, t=make_token(Purpose.OPTIN, subscriber.uuid),
                       l=[m.uuid for m in lists], _external=True)
        return _send(formataddr((subscriber.name, subscriber.email)), _("Please confirm your subscription"),
                     "optin", link=link, lists=lists, company=settings.company_name)


def send_campaign_test(campaign_id: int, subscriber_id: int | None, addresses: list[str]) -> list[str]:
    """Send a campaign, rendered for one reader exactly as the send will, to typed addresses; never counted."""
    chosen = db.session.get(Subscriber, subscriber_id) if subscriber_id else None
    campaign = get_campaign(campaign_id)
    batch = Batch.of(campaign, compile_campaign(campaign))
    message_ids = []
    for to in addresses:
        # As listmonk does, a test to a subscriber's own address is personalised for them.
        reader = chosen or db.session.scalar(select(Subscriber).where(Subscriber.email_key == address_key(to)))
        built, message_id = campaign_message(batch, reader, mailbox("", to), [(b"X-Kairan-Test", b"1")])
        transport.send(batch.sender, [quoted(to)], built.as_bytes())
        message_ids.append(message_id)
    return message_ids


def queue_optin_mail(_sender: object, *, subscriber_id: int, list_ids: list[int], language: str) -> None:
    """Receive lists' optin_requested signal: a worker sends the confirmation mail."""
    queue().enqueue("mailer.jobs.send_optin_mail", subscriber_id, list_ids, language)
