"""A campaign's message for one reader: what every message of the send shares, and the builder.

The send and the test sends both build here, so a test looks exactly as the real mail will.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import make_msgid, parseaddr
from typing import Any

from flask import current_app

from core.tokens import RETURN_PATH_PREFIX, UNSUBSCRIBE_PREFIX, Mark, mark_key, mark_token
from lists.models import Subscriber
from mailer.compiler import Compiled
from mailer.domains import bounce_domain_for, signer_for
from mailer.mime import Built, build, mailbox
from mailer.models import Campaign
from mailer.paths import CLICK, OPEN_PIXEL
from mailer.signing import DKIMSigner, Header
from mailer.template_context import reader_context


@dataclass(frozen=True)
class SendContext:
    """What every message of a campaign shares: its compiled form, sender, signer and tracked links."""

    campaign: Campaign
    compiled: Compiled
    from_: bytes
    sender: str
    domain: str
    signer: DKIMSigner | None  # the From domain's key, when it is a sending domain
    link_ids: Sequence[int]  # the links table's id of each of compiled.urls
    base_url: str
    bounce_domain: str
    mark_key: bytes

    @classmethod
    def of(cls, campaign: Campaign, compiled: Compiled, link_ids: Sequence[int] = ()) -> SendContext:
        """Work out a campaign's sender once (the configured sender when the campaign names none)."""
        settings = current_app.config["KAIRAN"]
        name, sender = parseaddr(campaign.from_email or settings.mail_from)
        domain = sender.rpartition("@")[2]
        return cls(campaign, compiled, mailbox(name, sender), sender, domain, signer_for(sender), link_ids,
                   settings.base_url, bounce_domain_for(domain), mark_key())

    def return_path(self, delivery_id: int) -> str:
        """The envelope sender of one delivery: bounces come back to an address naming it (VERP)."""
        return f"{RETURN_PATH_PREFIX}{mark_token(Mark.BOUNCE, delivery_id, key=self.mark_key)}@{self.bounce_domain}"

    def unsubscribe_address(self, delivery_id: int) -> str:
        """List-Unsubscribe's mailto: address of one delivery, on the bounce domain (tracking/inbound.py reads it)."""
        token = mark_token(Mark.UNSUBSCRIBE, delivery_id, key=self.mark_key)
        return f"{UNSUBSCRIBE_PREFIX}{token}@{self.bounce_domain}"


def campaign_message(context: SendContext, reader: Subscriber | None, to: bytes, extra: Sequence[Header] = (),
                     delivery_id: int | None = None, *, test_prefix: str = "",
                     data: dict[str, Any] | None = None) -> tuple[Built, str]:
    """Build one reader's message with every header of the sending rules; return it and its Message-ID.

    Only a delivery's message has tracked links and the open pixel (tests are never counted).
    A test (no delivery) has a subject starting with ``test_prefix``, and links, List-Unsubscribe's
    one-click among them, that change nothing: it may be rendered as a real subscriber.
    """
    campaign, domain = context.campaign, context.domain
    links: Sequence[str] | None = None
    pixel = ""
    if delivery_id is not None:
        key, base = context.mark_key, context.base_url
        links = [CLICK.link(base, token=mark_token(Mark.CLICK, delivery_id, link_id, key=key))
                 for link_id in context.link_ids]
        pixel = (f'<img src="{OPEN_PIXEL.link(base, token=mark_token(Mark.OPEN, delivery_id, key=key))}" '
                 'width="1" height="1" '
                 'alt="" style="display:block;border:0;width:1px;height:1px">')
    seen = reader_context(campaign, reader, track_view=pixel, delivery_id=delivery_id, test=delivery_id is None)
    seen.update(data or {})  # what this message alone sees: an automation's trigger event
    subject, html, text = context.compiled.render_all(seen, links)
    if delivery_id is None and test_prefix:
        subject = f"{test_prefix} {subject}"
    # A delivery's message keeps its Message-ID when sent again (its first try's machine died before recording
    # it): a receiver that got the first copy can drop the second. A test's is new each time.
    message_id = (make_msgid(domain=domain) if delivery_id is None
                  else f"<{mark_token(Mark.MESSAGE, delivery_id, key=context.mark_key)}@{domain}>")
    # RFC 2369: the https link (RFC 8058 one-click) first, then mail for clients that only send mail.
    mailto = f", <mailto:{context.unsubscribe_address(delivery_id)}?subject=unsubscribe>" if delivery_id else ""
    headers = [(b"List-Unsubscribe", f"<{seen['unsubscribe_url']}>{mailto}".encode()),
               (b"List-Unsubscribe-Post", b"List-Unsubscribe=One-Click"),
               (b"List-Id", f"<{campaign.uuid}.{domain}>".encode()),
               (b"Feedback-ID", f"{campaign.id}:{campaign.lists[0] if campaign.lists else 0}:kairan:{domain}".encode()),
               *extra]
    built = build(from_=context.from_, to=to, subject=subject, text=text, html=html,
                  message_id=message_id, date=datetime.now(UTC), extra=headers, charset=campaign.charset,
                  signer=context.signer)
    return built, message_id
