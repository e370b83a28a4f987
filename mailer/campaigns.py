"""Campaigns as composing needs them: drafts, their compiled message, the law's checks (the preview and the
other checks are in mailer/previews.py).

The send issue adds the lifecycle and the audience's materialisation; everything a message
looks like is decided here, once, for the preview, the test send and the real send alike.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flask import current_app
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import delete, select

from core.auth import Permission
from core.db import db, utcnow
from core.errors import Link as ErrorLink
from core.errors import NotAChoiceError, NotFoundError, ValidationError
from core.inputs import ID_MAX, flag, id_list, optional_id, whole_number
from core.oneline import one_line
from core.validation import FieldChecks, choice
from lists.addresses import parse_mailbox
from lists.models import ListType, MailingList, Segment, Subscriber
from mailer import queries
from mailer.compiler import Compiled, body_html, compile_message, convert
from mailer.errors import CampaignStatusError, NotSendableError, RenderError, SendTimeError, TemplateError
from mailer.layouts import default_template
from mailer.limits import RenderLimitError
from mailer.models import Campaign, CampaignKind, CampaignStatus, ContentType, Delivery, Link, Template
from mailer.sandbox import TEXT_ENV, Checked, check_source
from mailer.template_context import reader_context, sender_fields
from mailer.throttle import window_as_quiet, window_hours

LANGUAGES = ("ja", "en")
CHARSETS = ("utf-8", "iso-2022-jp")
EDITABLE_STATUSES = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)  # as listmonk


def get_campaign(campaign_id: int) -> Campaign:
    """Return a campaign or raise NotFoundError."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(_("Campaign not found."))
    return campaign


def checked_template(source: str, field: str, *, error_names_field: bool = True) -> Checked:
    """Check one of a campaign's templates; its warnings say which field they are about, and so does its error
    unless it is shown by its field (a form's; the error summary names the field already)."""
    try:
        checked = check_source(source)
    except TemplateError as error:
        raise TemplateError(_("%(field)s: %(problem)s", field=field, problem=error.message) if error_names_field
                            else error.message, error.line) from None
    return Checked(checked.source, [_("%(field)s: %(problem)s", field=field, problem=warning)
                                    for warning in checked.warnings])


QUIET_TIME = re.compile(r"([01]?\d|2[0-3]):[0-5]\d")


def editable(campaign: Campaign) -> bool:
    """Whether a campaign may be changed: a draft, scheduled or paused one, as listmonk; and an automation's
    message while it runs (its automation is active: a change applies to what it sends from then on)."""
    return campaign.status in EDITABLE_STATUSES or (
        campaign.kind == CampaignKind.AUTOMATION and campaign.status == CampaignStatus.RUNNING)


def save_campaign(campaign: Campaign | None, data: dict[str, Any], uuid: str | None = None, *,
                  checks: FieldChecks | None = None) -> tuple[Campaign, list[str]]:
    """Create or change a draft from listmonk's fields; the subject and body are checked as templates.

    ``uuid`` names a new campaign (the editor's form carries one, so a second submit cannot make a twin).
    Every field is checked before a refusal, which names them all (FieldsRefusedError); ``checks`` brings the
    refusals met before (an A/B test's) and how messages name the fields (the form's labels).
    """
    if campaign is not None and not editable(campaign):
        raise CampaignStatusError(_("Only a draft, scheduled or paused campaign can be changed."))
    checks = checks or FieldChecks()
    current = campaign or Campaign(content_type=ContentType.VISUAL, body="", lists=[], tags=[], headers=[],
                                   **({"uuid": uuid} if uuid else {}))
    subject_name, nothing = checks.name("subject", _("Subject")), Checked("", [])
    named = not checks.shown_by_field  # a template's error names its field unless shown by it
    name = checks.run("name", lambda: _required(data.get("name", current.name), _("Enter the campaign's name.")), "")
    subject = checks.run("subject", lambda: checked_template(_required(
        one_line(data.get("subject", current.subject), subject_name), _("Enter a subject.")), subject_name,
        error_names_field=named), nothing)
    content_type = checks.run("content_type", lambda: choice(
        ContentType, data.get("content_type"), checks.name("content_type"), current.content_type), current.content_type)
    switched = campaign is not None and content_type != campaign.content_type
    body = checks.run("body", lambda: checked_template(_body(data.get("body", current.body), current.content_type,
                                                             content_type, switched=switched),
                                                       checks.name("body", _("Body")),
                                                       error_names_field=named), nothing)
    altbody = data.get("altbody", current.altbody)
    checked_altbody = checks.run("altbody", lambda: checked_template(
        str(altbody), checks.name("altbody", _("Plain text")), error_names_field=named),
        nothing) if altbody else None
    template_id = checks.run("template_id", lambda: _template_id(data.get("template_id", current.template_id),
                                                                 checks.name("template_id")), None)
    language = checks.run("language", lambda: _one_of(str(data.get("language", current.language) or "ja"),
                                                       LANGUAGES, checks.name("language")), "ja")
    list_ids: list[int] = checks.run("lists", lambda: id_list(data.get("lists", current.lists),
                                                              checks.name("lists")), [])
    segment_id = checks.run("segment_id", lambda: _segment_id(data.get("segment_id", current.segment_id),
                                                              checks.name("segment_id")), None)
    send_at = checks.run("send_at", lambda: _send_at(data, current), None)
    rate, quiet_start, quiet_end, optimised = _pacing(data, current, checks)
    from_email = checks.run("from_email", lambda: _sender(data.get("from_email", current.from_email),
                                                          checks.name("from_email", _("From"))), "")
    charset = checks.run("charset", lambda: _one_of(str(data.get("charset", current.charset) or "utf-8").lower(),
                                                    CHARSETS, checks.name("charset")), "utf-8")
    checks.refuse_any()  # nothing is set while a field is refused
    warnings = subject.warnings + body.warnings + (checked_altbody.warnings if checked_altbody else [])
    if campaign is None:
        if "template_id" not in data:  # a new campaign starts in the default layout
            layout = default_template()
            template_id = layout.id if layout else None
        campaign = current
        db.session.add(campaign)
    campaign.name, campaign.subject, campaign.content_type = name, subject.source, content_type
    campaign.body, campaign.altbody = body.source, checked_altbody.source if checked_altbody else None
    campaign.template_id = template_id
    # The visual editor's project describes the old body: after a switch it reopens from the converted HTML.
    campaign.body_source = None if switched else data.get("body_source", campaign.body_source)
    campaign.from_email = from_email
    campaign.preheader = str(data.get("preheader", campaign.preheader) or "")
    campaign.language, campaign.lists, campaign.segment_id = language, list_ids, segment_id
    campaign.charset = charset
    campaign.tags = [str(t) for t in data.get("tags", campaign.tags) or []]
    campaign.archive = bool(data.get("archive", campaign.archive))
    campaign.send_at = send_at
    campaign.rate_per_minute, campaign.quiet_start, campaign.quiet_end = rate, quiet_start, quiet_end
    campaign.send_time_optimised = optimised
    db.session.commit()
    return campaign, warnings


def _body(raw: Any, was: ContentType, content_type: ContentType, *, switched: bool) -> str:
    body = str(raw or "")
    return convert(body, was, content_type) if switched else body  # a new editing mode: bring the body along


def _required(raw: Any, message: str) -> str:
    text = str(raw or "").strip()
    if not text:
        raise ValidationError(message)
    return text


def _one_of(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise NotAChoiceError(_("%(field)s must be one of: %(allowed)s.", field=field, allowed=", ".join(allowed)),
                              field=field)
    return value


def _template_id(raw: Any, field: str) -> int | None:
    template_id = optional_id(raw, field)
    if template_id is not None and db.session.get(Template, template_id) is None:
        raise ValidationError(_("Template not found."), field=field)
    return template_id


def delete_campaign(campaign: Campaign) -> None:
    """Delete a campaign that is not sending, with its deliveries (here: they have no foreign key) and links.

    A scheduled campaign's start job may stay in Redis: it finds no campaign to start and does nothing.
    """
    if campaign.kind == CampaignKind.AUTOMATION:  # its send step would lose its email
        raise CampaignStatusError(_("This is an automation's email: it is deleted with its automation."))
    if campaign.status == CampaignStatus.RUNNING:
        raise CampaignStatusError(_("A running campaign cannot be deleted: pause or cancel it first."))
    # A resend's audience is its original's non-openers, read when it starts: the original must be there then.
    waiting = db.session.scalar(select(Campaign.name).where(Campaign.resend_of == campaign.id,
                                                            Campaign.started_at.is_(None)))
    if waiting is not None:
        raise CampaignStatusError(_("Its resend “%(name)s” has not started: delete the resend first.", name=waiting))
    db.session.execute(delete(Delivery).where(Delivery.campaign_id == campaign.id))
    db.session.delete(campaign)
    db.session.commit()


def _sender(raw: Any, field: str) -> str:
    """A campaign's own sender ("Name <address>") as given, once checked as From: will carry it; empty: the default."""
    from_email = str(raw or "").strip()
    parse_mailbox(from_email, field)  # refuses what is not an address, or a name that breaks the line
    return from_email


def _segment_id(raw: Any, field: str) -> int | None:
    """A campaign's optional segment: only the subscribers of its lists who also match the segment's rules."""
    if raw in (None, "", 0, "0"):
        return None
    segment_id = whole_number(raw, field, maximum=ID_MAX)
    if db.session.get(Segment, segment_id) is None:
        raise ValidationError(_("Segment not found."), field=field)
    return segment_id


def _pacing(data: dict[str, Any], current: Campaign,
            checks: FieldChecks) -> tuple[int | None, str | None, str | None, bool]:
    """Read a campaign's own rate (messages a minute, slower than the global one), its quiet hours ("HH:MM") or
    sending window (the same hours the other way round: mailer/throttle.py), and its send-time optimisation."""
    raw_rate = data.get("rate_per_minute", current.rate_per_minute)
    rate = checks.run("rate_per_minute", lambda: None if raw_rate in (None, "") else whole_number(
        raw_rate, checks.name("rate_per_minute"), maximum=ID_MAX), None)
    as_window = "send_window_start" in data or "send_window_end" in data
    fields = ("send_window_start", "send_window_end") if as_window else ("quiet_start", "quiet_end")
    stored = window_as_quiet(current.quiet_start, current.quiet_end) if as_window else (current.quiet_start,
                                                                                      current.quiet_end)
    hours = [checks.run(field, partial(_hour, data.get(field, was), checks.name(field)), None)
             for field, was in zip(fields, stored, strict=True)]
    checks.run(fields[0], lambda: _check_window(hours, as_window, fields), None)
    quiet_start, quiet_end = window_as_quiet(*hours) if as_window else (hours[0], hours[1])
    optimised = checks.run("send_time_optimised", lambda: _optimised(
        data.get("send_time_optimised"), checks.name("send_time_optimised"), current, quiet_start, quiet_end), False)
    return rate, quiet_start, quiet_end, optimised


def _hour(raw: Any, field: str) -> str | None:
    value = str(raw or "").strip()
    if value and not QUIET_TIME.fullmatch(value):
        raise ValidationError(_("%(field)s must be a time such as 22:00.", field=field), field=field)
    return value.zfill(5) if value else None


def _check_window(hours: list[str | None], as_window: bool, fields: tuple[str, str]) -> None:
    if bool(hours[0]) != bool(hours[1]):
        raise ValidationError(_("A sending window needs both a start and an end, such as 09:00 and 20:00.")
                              if as_window else _("Quiet hours need both a start and an end, such as 22:00 and 08:00."),
                              field=fields[0] if not hours[0] else fields[1])
    if hours[0] and hours[0] == hours[1]:
        raise ValidationError(_("A sending window (or quiet hours) cannot end when it starts: %(time)s to %(time)s "
                                "holds no hour or every hour.", time=hours[0]), field=fields[1])


def _optimised(raw: Any, field: str, current: Campaign, quiet_start: str | None, quiet_end: str | None) -> bool:
    optimised = flag(raw, field, bool(current.send_time_optimised))
    if optimised and not window_hours(quiet_start, quiet_end):
        raise ValidationError(_("Send-time optimisation sends at whole hours: the sending window must hold at least "
                                "one whole hour, such as 09:00 to 10:00."), field=field)
    return optimised


def _send_at(data: dict[str, Any], current: Campaign) -> datetime | None:
    """Read listmonk's send_at (RFC 3339 with an offset) and send_later; a new time must be in the future."""
    if data.get("send_later") is False or ("send_at" in data and data["send_at"] in (None, "")):
        if current.status == CampaignStatus.SCHEDULED:
            raise SendTimeError(_("A scheduled campaign needs its send time: unschedule it first."))
        return None
    if "send_at" not in data:
        return current.send_at
    try:
        send_at = datetime.fromisoformat(str(data["send_at"]))
    except ValueError:
        raise SendTimeError(_("send_at must be a date and time like 2026-05-01T09:00:00+09:00.")) from None
    if send_at.tzinfo is None:
        raise SendTimeError(_("send_at needs its UTC offset, like 2026-05-01T09:00:00+09:00."))
    send_at = send_at.astimezone(UTC)
    if send_at != current.send_at:
        check_future(send_at)
    return send_at


def check_future(send_at: datetime) -> None:
    """Refuse a send-at time that has passed: it would start at once, which "Send now" says more honestly. Said in
    the installation's time (forms and the API alike), which is what people typed or meant."""
    if send_at <= utcnow():
        raise SendTimeError(_("The send time %(time)s has passed: choose a time in the future.",
                              time=format_datetime(send_at, "medium")))


ARCHIVED_STATUSES = (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.FINISHED)


def archived_campaigns(list_uuid: str | None = None) -> list[Campaign]:
    """Return the campaigns with a public web version that have been sent, newest first (optionally of one list).

    Only campaigns sent to at least one public list show: a private list's mail stays private.
    """
    public = {m.id: m.uuid for m in db.session.scalars(select(MailingList).where(
        MailingList.type == ListType.PUBLIC))}
    found = db.session.scalars(select(Campaign).where(Campaign.archive.is_(True),
                                                      Campaign.status.in_(ARCHIVED_STATUSES))
                               .order_by(Campaign.id.desc()))
    return [c for c in found if any(i in public and (list_uuid is None or public[i] == list_uuid) for i in c.lists)]


def archived_campaign(campaign_uuid: str) -> Campaign | None:
    """Return one campaign of the archive by its uuid, or None when it is not public."""
    return next((c for c in archived_campaigns() if c.uuid == campaign_uuid), None)


def _archive_reader() -> Subscriber:
    """The reader a web version is rendered for: nobody's data, and personal links that name no one."""
    return Subscriber(id=0, uuid="00000000-0000-0000-0000-000000000000", email="", name=_("Reader"), attribs={})


def web_version(campaign: Campaign) -> str:
    """Render a campaign's public web version."""
    html, _text = compile_campaign(campaign).render(reader_context(campaign, _archive_reader()))
    return html


def archive_subject(campaign: Campaign) -> str:
    """Render a campaign's subject as its web version shows it (the subject alone: no compile needed)."""
    return TEXT_ENV.from_string(campaign.subject).render(reader_context(campaign, _archive_reader()))


def compile_campaign(campaign: Campaign) -> Compiled:
    """Compile a campaign's body in its layout (for a preview, a test or the send)."""
    layout = campaign.template.body if campaign.template else None
    return compile_message(body_html(campaign.content_type, campaign.body), layout, campaign.altbody,
                           campaign.subject)


def save_links(campaign: Campaign, urls: tuple[str, ...]) -> list[int]:
    """Record a campaign's tracked URLs (once each) and return their ids in ``urls`` order."""
    known = dict(db.session.execute(select(Link.url, Link.id).where(Link.campaign_id == campaign.id)).all())
    for url in urls:
        if url not in known:
            link = Link(campaign_id=campaign.id, url=url)
            db.session.add(link)
            db.session.flush()
            known[url] = link.id
    db.session.commit()
    return [known[url] for url in urls]


def sender_of(campaign: Campaign | None) -> str:
    """Return the From address the campaign's mail carries: its own, or Kairan's default sender."""
    return (campaign.from_email if campaign else "") or current_app.config["KAIRAN"].mail_from


def legal_problems(campaign: Campaign, compiled: Compiled) -> list[str]:
    """What 特定電子メール法 asks of every message that this one lacks: a way to refuse mail, the sender's details."""
    sender = sender_fields(campaign)
    problems = []
    if "unsubscribe_url" not in compiled.html_source:
        problems.append(_("There is no unsubscribe link ({{ unsubscribe_url }})."))
    if not sender["address"] or not sender["contact"]:
        problems.append(_("Set the postal address and the contact on %(settings)s (or KAIRAN_POSTAL_ADDRESS "
                          "and KAIRAN_CONTACT): the footer must show the sender's address and contact point.",
                          settings=_("the Settings page")))
    return problems


def _settings_link() -> ErrorLink:
    """Where a missing postal address or contact is set: the settings page, linked in a refusal a page shows."""
    return ErrorLink(_("the Settings page"), "core.settings", Permission.SETTINGS_MANAGE)


def require_legal_details(campaign: Campaign) -> Compiled:
    """Refuse (NotSendableError) to send or schedule a campaign that lacks what the law asks; return it compiled.

    A template that goes past a render limit even for the sample reader is refused here too, not in a
    worker (one that fails only for some readers' data fails those deliveries, with the reason).
    """
    compiled = compile_campaign(campaign)  # a template error stops here too, not in a worker
    problems = legal_problems(campaign, compiled)
    if problems:
        raise NotSendableError(_("Not sent: %(problems)s", problems=" ".join(problems)), links=[_settings_link()])
    try:
        compiled.render_all(reader_context(campaign, None))
    except RenderLimitError as error:
        raise NotSendableError(_("Not sent: %(problems)s", problems=error.message)) from None
    except RenderError:
        pass  # the sample reader lacks data real readers have: their deliveries say if it fails for them
    return compiled


def campaign_as_dict(campaign: Campaign, *, with_stats: bool = False) -> dict[str, Any]:
    """Serialise a campaign in listmonk's shape (with its delivery counts when asked: one more query)."""
    stats: dict[str, Any] = {}
    if with_stats:
        counts = queries.progress(campaign.id)
        stats = {"to_send": campaign.to_send, "sent": counts["sent"], "failed": counts["failed"],
                 "started_at": campaign.started_at.isoformat() if campaign.started_at else None}
    return {**stats,
        "id": campaign.id, "uuid": campaign.uuid, "created_at": campaign.created_at.isoformat(),
        "updated_at": campaign.updated_at.isoformat(), "name": campaign.name, "subject": campaign.subject,
        "from_email": campaign.from_email, "status": campaign.status.value, "content_type": campaign.content_type.value,
        "body": campaign.body, "altbody": campaign.altbody, "template_id": campaign.template_id,
        "lists": [{"id": i} for i in campaign.lists], "tags": campaign.tags, "headers": campaign.headers,
        "archive": campaign.archive, "send_at": campaign.send_at.isoformat() if campaign.send_at else None,
        "preheader": campaign.preheader, "language": campaign.language, "charset": campaign.charset,
        "rate_per_minute": campaign.rate_per_minute, "quiet_start": campaign.quiet_start,
        "quiet_end": campaign.quiet_end, "notice": campaign.notice, "segment_id": campaign.segment_id,
        "resend_of": campaign.resend_of, "resend_machine_openers": campaign.resend_machine_openers,
        **dict(zip(("send_window_start", "send_window_end"),
                   window_as_quiet(campaign.quiet_start, campaign.quiet_end), strict=True)),
        "send_time_optimised": campaign.send_time_optimised,
    }
