"""What a message's templates see: the reader, the campaign, the sender's legal details and the personal links.

One place for the preview, the layout preview, the test send, the real send and transactional
mail, so each shows a reader the same names.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup

from lists.models import MailingList, Subscriber
from lists.paths import OPTIN, PREFERENCES, UNSUBSCRIBE
from lists.public import public_links
from mailer.models import Campaign, CampaignKind
from mailer.paths import ARCHIVE_MESSAGE


def subscriber_fields(subscriber: Subscriber) -> dict[str, Any]:
    """Return what templates see as ``subscriber`` (listmonk's .Subscriber)."""
    first_name, _space, last_name = (subscriber.name or "").strip().partition(" ")  # listmonk's FirstName/LastName
    return {"id": subscriber.id, "uuid": subscriber.uuid, "email": subscriber.email,
            "name": subscriber.name or "", "attribs": subscriber.attribs or {},
            "first_name": first_name, "last_name": last_name.strip(),
            "status": str(subscriber.status or "enabled")}


def sender_fields(campaign: Campaign | None = None) -> dict[str, str]:
    """Return what templates see as ``sender``: the details Japanese law asks every mail to show, as the
    campaign fixed them, else this machine's settings (a draft, Kairan's own mail)."""
    if campaign is not None and campaign.sender_address is not None:
        return {"name": campaign.sender_name or "", "address": campaign.sender_address,
                "contact": campaign.sender_contact or ""}
    settings = current_app.config["KAIRAN"]
    return {"name": settings.company_name, "address": settings.postal_address, "contact": settings.contact}


def fix_sender(campaign: Campaign) -> None:
    """Fix the sender's details on the campaign from this machine's settings (where a person schedules or starts
    it), so every worker machine sends the footer this one checked, whatever its own settings say."""
    settings = current_app.config["KAIRAN"]
    campaign.sender_name, campaign.sender_address, campaign.sender_contact = (
        settings.company_name, settings.postal_address, settings.contact)


class SampleProperties(dict[str, str]):
    """A preview's stand-in for an event's properties: any one asked for reads as its name in brackets."""

    def __missing__(self, key: str) -> str:
        return f"[{key}]"


def reader_context(campaign: Campaign, subscriber: Subscriber | None, list_: MailingList | None = None,
                   track_view: str = "", delivery_id: int | None = None, *, test: bool = False) -> dict[str, Any]:
    """Return what a message's templates see for one reader (a sample reader when there is none).

    A delivery's message gets an unsubscribe link that names the delivery, so its campaign is credited.
    A test message's or a preview's (``test``) links lead to a page that says so and changes nothing.
    """
    settings = current_app.config["KAIRAN"]
    base = settings.base_url
    if subscriber is None:
        with force_locale(campaign.language or "ja"):  # the sample reader speaks the campaign's language
            name = _("Sample Reader")
        subscriber = Subscriber(id=0, uuid="00000000-0000-0000-0000-000000000000", email="reader@example.com",
                                name=name, attribs={})
    links = public_links(subscriber, delivery_id, test=test)
    return {
        "subscriber": subscriber_fields(subscriber),
        "campaign": {"id": campaign.id, "uuid": campaign.uuid, "name": campaign.name, "subject": campaign.subject},
        "list": {"id": list_.id, "uuid": list_.uuid, "name": list_.name} if list_ else {},
        "sender": sender_fields(campaign),
        "unsubscribe_url": UNSUBSCRIBE.link(base, token=links["unsubscribe"]),
        "preferences_url": PREFERENCES.link(base, token=links["preferences"]),
        "optin_url": OPTIN.link(base, subscriber_uuid=subscriber.uuid, t=links["optin"]),
        "archive_url": ARCHIVE_MESSAGE.link(base, campaign_uuid=campaign.uuid) if campaign.archive else "",
        "track_view": Markup(track_view),  # noqa: S704  (the send path's own <img> tag, never input)
        "preheader": campaign.preheader,
        "lang": campaign.language,
        "tx": {"data": {}},
        # An automation's message sees the event that started its run (set per message when it is sent); a
        # preview or a test has none: each property shows its name, [product_name].
        **({"event": {"name": "", "properties": SampleProperties()}} if campaign.kind == CampaignKind.AUTOMATION
           else {}),
    }
