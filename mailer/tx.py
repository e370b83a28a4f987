"""Transactional mail (listmonk's POST /api/tx), and the job every single message is sent by.

Each message is one RQ job on the "tx" queue, which every worker serves before campaign
batches (core/queues.py). The job takes the pipeline every message takes (mailer/pipeline.py):
it renders the message, builds it (mailer/mime.py), signs it when its From domain is a sending
domain, and hands it to the transport over a connection of its own. Kairan's own mail (the
test message, opt-in confirmations, campaign test sends: mailer/jobs.py) takes the same path.
A refusal or a lost connection fails the job, which RQ tries again (RETRY).

Recipients are resolved as listmonk resolves them (``subscriber_mode``):

- ``default``: ``subscriber_emails`` or ``subscriber_ids`` (one of them) name subscribers;
  one that does not exist gets nothing.
- ``fallback``: ``subscriber_emails`` only; a subscriber's data when the address is one,
  else the address alone.
- ``external``: ``subscriber_emails`` only, sent as given; templates see the address alone.

Never mailed, in any mode: a suppressed address or domain, a blocklisted subscriber's address.
As listmonk does with unknown subscribers, such a recipient is skipped, the others are sent,
and the answer is 400 naming each one skipped (joined by "; "). Anything wrong with the request
itself (a field, the template, an attachment, a render error) refuses it whole: nothing is sent.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import make_msgid, parseaddr
from functools import lru_cache
from typing import IO, Any, ClassVar

import jinja2
from flask import current_app
from flask_babel import gettext as _
from rq import Retry
from sqlalchemy import select

from core.checklist import mark_done
from core.db import db
from core.errors import ValidationError
from core.inputs import ID_MAX, id_list
from core.oneline import CONTROLS, one_line
from core.queues import queue
from lists.addresses import address_key, normalise_email, parse_mailbox
from lists.models import Subscriber, SubscriberStatus
from lists.suppressions import is_suppressed
from mailer import pipeline, transport
from mailer.checklist import TEST_MAIL
from mailer.compiler import Compiled, body_html, compile_message
from mailer.domains import signer_for
from mailer.errors import RenderError
from mailer.mime import Attachment, build, header_text, mailbox
from mailer.models import ContentType, Template, TemplateType
from mailer.pipeline import Composed
from mailer.queues import TX_QUEUE
from mailer.sandbox import check_source
from mailer.signing import Header
from mailer.template_context import sender_fields, subscriber_fields
from mailer.transport import Reply

log = logging.getLogger(__name__)

MODES = ("default", "fallback", "external")
CONTENT_TYPES = (ContentType.HTML, ContentType.MARKDOWN, ContentType.PLAIN)  # listmonk's for tx
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # all files of a request: relays refuse mail much larger once base64'd
RETRY = Retry(max=3, interval=[10, 60, 300])  # a relay that is down: the message waits, then tries again
HEADER_NAME = re.compile(r"[!-9;-~]{1,76}")  # RFC 5322 field name: printable ASCII without ":"
MIME_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")
# The builder writes these; a request's headers may not replace them (from_email sets From).
BUILT_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                 "content-transfer-encoding", "dkim-signature", "return-path"}


class Letter(ABC):
    """One message to deliver. It travels pickled in its RQ job: it holds values and ids, never rows."""

    is_test: ClassVar[bool] = False  # a test message or a campaign's test: once sent, the setup checklist's step

    @abstractmethod
    def compose(self) -> Composed | None:
        """Render, build and sign the message; None when there is no one left to send it to."""


class RefusedError(Exception):
    """The transport refused a single message: its job fails, and RQ tries it again."""


class SingleMessage:
    """A Letter as the pipeline takes it: refused addresses get nothing, and only an accepted message is kept."""

    def __init__(self, letter: Letter) -> None:
        self.letter = letter
        self.message_id: str | None = None

    def compose(self) -> Composed | None:
        """Compose the letter; None when no one is left to send it to, or the address is never mailed.

        The refusal is checked again here: an address suppressed after the message was queued gets nothing.
        """
        composed = self.letter.compose()
        refused = refusal(composed.recipient) if composed is not None else None
        if refused:
            log.warning("not sent: %s", refused)
            return None
        return composed

    def record(self, composed: Composed, reply: Reply) -> None:
        """Keep the Message-ID of an accepted message; a refusal fails the job (RQ tries it again)."""
        if not reply.accepted:
            raise RefusedError(f"{composed.recipient}: {reply}")
        self.message_id = composed.message_id


def deliver(letter: Letter) -> str | None:
    """The RQ job of every single message: take it down the pipeline on its own connection; return its Message-ID.

    A template that cannot be rendered (it was checked when queued; a reader's data or the time budget
    can still fail it) ends the job: trying again would fail the same way.
    """
    message = SingleMessage(letter)
    try:
        pipeline.send_alone(message, transport.outlet())
    except RenderError as error:
        log.warning("not sent: %s", error.message)
        return None
    if letter.is_test and message.message_id:
        mark_done(TEST_MAIL)
    return message.message_id


def enqueue(letter: Letter) -> None:
    """Queue a message on the transactional queue, which workers take before campaign batches."""
    queue(TX_QUEUE).enqueue(deliver, letter, retry=RETRY)


def refusal(address: str) -> str | None:
    """Say why an address is never mailed (suppressed, or a blocklisted subscriber's), or None."""
    if is_suppressed(address):
        return _("%(address)s is suppressed: nothing is sent to it.", address=address)
    blocklisted = db.session.scalar(select(Subscriber.id).where(Subscriber.email_key == address_key(address),
                                                                Subscriber.status == SubscriberStatus.BLOCKLISTED))
    if blocklisted is not None:
        return _("%(address)s is blocklisted: nothing is sent to it.", address=address)
    return None


def assemble(to: tuple[str, str], subject: str, html: str, text: str, *, from_: tuple[str, str] | None = None,
             headers: Sequence[Header] = (), attachments: Sequence[Attachment] = ()) -> Composed:
    """Build and sign a rendered message from (name, address) ``from_`` (else the configured sender) to ``to``."""
    name, sender = from_ or parseaddr(current_app.config["KAIRAN"].mail_from)
    message_id = make_msgid(domain=sender.rpartition("@")[2])
    built = build(from_=mailbox(name, sender), to=mailbox(*to), subject=subject, text=text, html=html,
                  message_id=message_id, date=datetime.now(UTC), extra=headers, signer=signer_for(sender),
                  attachments=attachments)
    return Composed(sender, to[1], built, message_id)


@lru_cache(maxsize=32)
def _compiled(body: str, content_type: str, subject: str, altbody: str) -> Compiled:
    """Compile a tx template once per process (premailer costs milliseconds; a render, microseconds)."""
    return compile_message(body_html(content_type, body), None, altbody or None, subject)


@dataclass(frozen=True)
class TxLetter(Letter):
    """One transactional message, with the template's source as it was when the request came."""

    body: str
    subject: str
    altbody: str
    content_type: str
    recipient: dict[str, Any]  # what templates see as ``subscriber``
    data: dict[str, Any]
    from_email: tuple[str, str] | None = None
    headers: tuple[Header, ...] = ()
    attachments: tuple[Attachment, ...] = field(default=(), repr=False)

    def render(self) -> tuple[str, str, str]:
        """Return the subject, HTML and text for this recipient."""
        compiled = _compiled(self.body, self.content_type, self.subject, self.altbody)
        context = {"subscriber": self.recipient, "tx": {"data": self.data}, "sender": sender_fields()}
        return compiled.render_all(context)

    def compose(self) -> Composed:
        """Render, build and sign."""
        subject, html, text = self.render()
        return assemble((self.recipient["name"], self.recipient["email"]), subject, html, text,
                        from_=self.from_email, headers=self.headers, attachments=self.attachments)


def send_tx(payload: dict[str, Any], files: Sequence[Any] = ()) -> list[str]:
    """Check a POST /api/tx request, queue one message per recipient; return why any recipient was skipped."""
    template = _tx_template(payload.get("template_id"))
    mode = str(payload.get("subscriber_mode") or "default")
    if mode not in MODES:
        raise ValidationError(_("%(field)s must be one of: %(allowed)s.", field="subscriber_mode",
                                allowed=", ".join(MODES)))
    emails, ids = _recipients(payload, mode)
    content_type = str(payload.get("content_type") or ContentType.HTML)
    if content_type not in CONTENT_TYPES:
        raise ValidationError(_("%(field)s must be one of: %(allowed)s.", field="content_type",
                                allowed=", ".join(CONTENT_TYPES)))
    messenger = payload.get("messenger") or "email"
    if messenger != "email":
        raise ValidationError(_("Unknown messenger %(name)s: Kairan sends email only.", name=messenger))
    data = payload.get("data") if payload.get("data") is not None else {}
    if not isinstance(data, dict):
        raise ValidationError(_("data must be a JSON object."))
    subject = (check_source(one_line(payload["subject"], "subject")).source if payload.get("subject")
               else template.subject)
    altbody = check_source(str(payload["altbody"])).source if payload.get("altbody") else ""
    letter = TxLetter(body=template.body, subject=subject, altbody=altbody, content_type=content_type,
                      recipient={}, data=data, from_email=parse_mailbox(payload.get("from_email"), "from_email"),
                      headers=_headers(payload.get("headers")), attachments=read_attachments(files))
    letters, skipped = [], []
    for key in ids or emails:
        recipient = _resolve(key, mode)
        if isinstance(recipient, str):
            skipped.append(recipient)
            continue
        one = replace(letter, recipient=recipient)
        _check_renders(one)
        letters.append(one)
    for one in letters:  # only once every message renders: a bad request sends nothing
        enqueue(one)
    return skipped


def _tx_template(template_id: Any) -> Template:
    if not isinstance(template_id, int) or isinstance(template_id, bool):
        raise ValidationError(_("Send template_id, the id of a transactional template."))
    template = db.session.get(Template, template_id) if 0 < template_id <= ID_MAX else None
    if template is None or template.type != TemplateType.TX:
        raise ValidationError(_("Transactional template %(id)d not found.", id=template_id))
    return template


def _list_of(payload: dict[str, Any], one: str, many: str, kind: type, wrong_type: str) -> list[Any]:
    """Merge listmonk's single field (deprecated) and its list field; refuse both at once or wrong types."""
    values = payload.get(many) or []
    if payload.get(one) not in (None, "", 0):
        if values:
            raise ValidationError(_("Send %(one)s or %(many)s, not both.", one=one, many=many))
        values = [payload[one]]
    if not isinstance(values, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise ValidationError(wrong_type)
    if kind is int:  # an id no row can have: refuse it here rather than in the query
        id_list(values, many)
    return values


def _recipients(payload: dict[str, Any], mode: str) -> tuple[list[str], list[int]]:
    emails = _list_of(payload, "subscriber_email", "subscriber_emails", str,
                      _("subscriber_emails must be a list of addresses."))
    ids = _list_of(payload, "subscriber_id", "subscriber_ids", int,
                   _("subscriber_ids must be a list of whole numbers."))
    if mode == "default" and bool(emails) == bool(ids):
        raise ValidationError(_("Send subscriber_emails or subscriber_ids (one of them)."))
    if mode != "default" and ids:
        raise ValidationError(_("subscriber_ids cannot be used in %(mode)s mode: send subscriber_emails.",
                                mode=mode))
    if mode != "default" and not emails:
        raise ValidationError(_("Send subscriber_emails."))
    return [normalise_email(e) for e in emails], ids


def _resolve(key: str | int, mode: str) -> dict[str, Any] | str:
    """Return what the template sees as ``subscriber`` for an address or id, or why nobody is sent to."""
    found = None
    if mode != "external":
        where = Subscriber.id == key if isinstance(key, int) else Subscriber.email_key == address_key(key)
        found = db.session.scalar(select(Subscriber).where(where))
    if found is None and (mode == "default" or isinstance(key, int)):
        return _("Subscriber %(who)s not found.", who=key)
    recipient = subscriber_fields(found) if found else {
        "id": 0, "uuid": "", "email": key, "name": "", "attribs": {}, "first_name": "", "last_name": "",
        "status": ""}
    return refusal(recipient["email"]) or recipient


def _check_renders(letter: TxLetter) -> None:
    """Render now, as listmonk does, so a template that fails for this data is a 400, not a failed job."""
    try:
        letter.render()
    except (RenderError, jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise ValidationError(_("The template cannot be rendered for %(address)s: %(error)s",
                                address=letter.recipient["email"], error=error)) from None


def _headers(value: Any) -> tuple[Header, ...]:
    """Return listmonk's ``headers`` ([{"Name": "value"}, …]) as header lines, refusing what would break the mail."""
    if value in (None, ""):
        return ()
    if not isinstance(value, list) or not all(isinstance(h, dict) for h in value):
        raise ValidationError(_('headers must be a list of objects: [{"X-Name": "value"}].'))
    lines = []
    for name, text in ((str(n), v) for h in value for n, v in h.items()):
        if not HEADER_NAME.fullmatch(name) or not isinstance(text, str) or CONTROLS.search(text):
            raise ValidationError(_("The header %(name)s is not valid: a name without spaces or colons, "
                                    "a text value on one line.", name=name))
        if name.lower() in BUILT_HEADERS:
            raise ValidationError(_("The header %(name)s is set by Kairan and cannot be given.", name=name))
        lines.append((name.encode(), header_text(text)))
    return tuple(lines)


def read_attachments(files: Sequence[Any]) -> tuple[Attachment, ...]:
    """Read uploaded files (werkzeug FileStorage) as attachments, refusing more than MAX_ATTACHMENT_BYTES in all."""
    attachments, total = [], 0
    for file in files:
        stream: IO[bytes] = file.stream
        content = stream.read(MAX_ATTACHMENT_BYTES - total + 1)  # never more than the limit in memory
        total += len(content)
        if total > MAX_ATTACHMENT_BYTES:
            raise ValidationError(_("Attachments may total at most %(mb)d MB.", mb=MAX_ATTACHMENT_BYTES // 2**20))
        name = attachment_name(file.filename or "")
        kind = file.mimetype if MIME_TYPE.fullmatch(file.mimetype or "") else None
        if kind in (None, "application/octet-stream"):
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        attachments.append(Attachment(name, kind, content))
    return tuple(attachments)


def attachment_name(raw: str) -> str:
    """Return a file name fit for a mail: no folders, no control characters, composed (macOS sends NFD)."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rpartition("/")[2])
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:200] or "attachment"
