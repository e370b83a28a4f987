"""UI pages for campaigns: the list, drafts in their editors, preview and checks, test sends, moves, the archive.

Layouts have their pages in mailer/template_views.py, images in mailer/media_views.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.api import DEFAULT_PER_PAGE
from core.auth import Permission, public, require
from core.db import db, utcnow
from core.errors import KairanError
from core.forms import ConfirmForm
from core.inputs import INT64_MAX, id_or_none
from core.refusals import field_messages, showing_refusal
from core.web import can
from lists.addresses import address_key, valid_address
from lists.models import ListType, MailingList, Segment, Subscriber
from lists.services import lists_query
from mailer import ab, ab_form
from mailer.campaigns import (
    archive_subject,
    archived_campaign,
    archived_campaigns,
    check_future,
    delete_campaign,
    editable,
    get_campaign,
    sender_of,
    web_version,
)
from mailer.domains import unreal_sender
from mailer.gallery import campaign_values, copy_language, get_starter
from mailer.jobs import queue_test_send
from mailer.layouts import all_templates
from mailer.media import all_media, media_as_dict
from mailer.models import Campaign, CampaignStatus, ContentType, WinnerMeasure
from mailer.overview import all_tags, campaigns_query, delivery_counts
from mailer.paths import ARCHIVE_MESSAGE, SURVEY_ANSWER
from mailer.previews import preview
from mailer.scheduling import local_input_value, local_zone, parse_local_time, queue_start, soon
from mailer.sending import MOVES, audience_size, campaign_progress, change_status
from mailer.views import preview_response, save_posted

bp = Blueprint("compose", __name__)
CAMPAIGN_STATUS_LABELS = {"draft": _l("Draft"), "scheduled": _l("Scheduled"), "running": _l("Running"),
                          "paused": _l("Paused"), "cancelled": _l("Cancelled"), "finished": _l("Finished")}

# The campaign form's fields as the page names them, in its order: its refusals name them so, and its error summary
# lists them in this order, each linked to its input (FIELD_INPUTS: those whose input's id is not the field's name).
CAMPAIGN_LABELS = {
    "name": _l("Campaign name"), "subject": _l("Subject"), "preheader": _l("Preheader (the preview line in the inbox)"),
    "from_email": _l("From"), "template_id": _l("Layout"), "content_type": _l("Editing mode"),
    "language": _l("Language of the layout"), "charset": _l("Character set"),
    "rate_per_minute": _l("Sending speed (messages a minute)"), "send_window_start": _l("Sending window start"),
    "send_window_end": _l("Sending window end"),
    "send_time_optimised": _l("Send-time optimisation: each reader at the hour they usually open"),
    "lists": _l("Lists"), "segment_id": _l("Segment (optional)"),
    "variants": _l("Variants"), "test_share": _l("Test share of the audience"),
    "wait_hours": _l("Wait before choosing the winner (hours, 1–72)"),
    "measure": _l("The winner is the variant with the most"),
    "body": _l("Content"), "altbody": _l("Plain-text part (optional; derived from the HTML when empty)"),
}
FIELD_INPUTS = {"variants": "variant_count", "body": "content"}  # the content: its heading, above any editor

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
# The npm packages (package.json) whose files the UI loads; nothing else in node_modules is served.
VENDOR_PACKAGES = {"grapesjs", "grapesjs-preset-newsletter", "codemirror", "font-awesome", "quill", "chart.js"}


@bp.get("/vendor/<path:name>")
@public
def vendor(name: str) -> Any:
    """Serve a file of a third-party browser package from node_modules (paths inside it stay relative)."""
    if name.split("/", 1)[0] not in VENDOR_PACKAGES:
        abort(404)
    return send_from_directory(NODE_MODULES, name, max_age=3600)


# Campaigns


@bp.get("/campaigns/")
@require(Permission.CAMPAIGNS_READ)
def campaigns() -> Any:
    """List the campaigns: search, status and tag filters, pages, and each one's lifecycle buttons."""
    filters = {"query": request.args.get("query", "").strip(), "status": request.args.get("status", ""),
               "tag": request.args.get("tag", "")}
    page = id_or_none(request.args.get("page"), INT64_MAX) or 1
    with showing_refusal() as attempt:  # an unknown status in the address bar: say so, show them all
        stmt = campaigns_query(filters["query"], [filters["status"]] if filters["status"] else [],
                               [filters["tag"]] if filters["tag"] else [])
    if attempt.refused:
        return redirect(url_for("compose.campaigns"))
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(db.session.scalars(stmt.limit(DEFAULT_PER_PAGE).offset((page - 1) * DEFAULT_PER_PAGE)))
    return render_template(
        "mailer/campaigns.html", campaigns=rows, filters=filters, total=total, page=page,
        pages=max(1, -(-total // DEFAULT_PER_PAGE)), tags=all_tags(), counts=delivery_counts(rows),
        audiences={c.id: audience_size(c) for c in rows if c.started_at is None and c.status in MOVES},
        moves={c.id: MOVES.get(c.status, set()) for c in rows}, form=ConfirmForm(),
        status_labels=CAMPAIGN_STATUS_LABELS, zone=local_zone().key)


def visual_editor_messages() -> dict[str, Any]:
    """GrapesJS's own interface wording in the UI language (it ships no Japanese)."""
    return {
        "assetManager": {"addButton": _("Add image"), "inputPlh": "https://…", "modalTitle": _("Choose an image"),
                         "uploadTitle": _("Drop images here or click to upload")},
        "domComponents": {"names": {"": _("Box"), "wrapper": _("Body"), "text": _("Text"), "image": _("Image"),
                                    "link": _("Link"), "table": _("Table"), "row": _("Table row"),
                                    "cell": _("Column")}},
        "deviceManager": {"device": _("Device"), "devices": {"desktop": _("Desktop"), "tablet": _("Tablet"),
                                                             "mobilePortrait": _("Phone")}},
        "panels": {"buttons": {"titles": {
            "preview": _("Preview"), "fullscreen": _("Full screen"), "sw-visibility": _("Show outlines"),
            "export-template": _("View code"), "open-sm": _("Styles"), "open-tm": _("Settings"),
            "open-layers": _("Layers"), "open-blocks": _("Blocks")}}},
        "styleManager": {"empty": _("Select an element to style it."), "sectors": {
            "general": _("General"), "layout": _("Layout"), "typography": _("Typography"),
            "decorations": _("Decorations"), "extra": _("Extra"), "dimension": _("Size")}},
        "traitManager": {"empty": _("Select an element to change its settings."), "label": _("Settings"),
                         "traits": {"labels": {"alt": _("Alternative text"), "title": _("Title"), "href": _("Link"),
                                               "target": _("Opens in")},
                                    "options": {"target": {"false": _("This window"), "_blank": _("A new window")}}}},
    }


def _campaign_editor(campaign: Campaign | None, values: dict[str, Any], status: int = 200,
                     refused: KairanError | None = None) -> Any:
    """The campaign's page with ``values`` in its fields and what ``refused`` says about them."""
    errors = field_messages(refused, CAMPAIGN_LABELS)
    problems = [(FIELD_INPUTS.get(name, name), label, errors[name]) for name, label in CAMPAIGN_LABELS.items()
                if name in errors]  # the error summary's, in the page's order
    if "ab" not in values:  # a form posted without the A/B part (it is shown again as saved)
        values["ab"] = ab_form.form_values(ab.test_of(campaign) if campaign else None)
    lists = [{"id": m.id, "name": m.name} for m in db.session.scalars(lists_query(order_by="name"))]
    return render_template(
        "mailer/campaign_edit.html", campaign=campaign, values=values, form=ConfirmForm(), lists=lists,
        labels=CAMPAIGN_LABELS, errors=errors, problems=problems,
        ab_labels=ab.LABELS, ab_shares=ab_form.SHARES, measures=list(WinnerMeasure),
        measure_labels=ab_form.MEASURE_LABELS,
        segments=db.session.execute(select(Segment.id, Segment.name).order_by(Segment.name)).all(),
        layouts=all_templates("campaign"), content_types=list(ContentType),
        media=[media_as_dict(m) for m in all_media()], editor_messages=visual_editor_messages(),
        sender_warning=None if "from_email" in errors else unreal_sender(values.get("from_email") or sender_of(None)),
        resent=db.session.get(Campaign, campaign.resend_of) if campaign and campaign.resend_of else None,
    ), status


def _campaign_values(campaign: Campaign | None) -> dict[str, Any]:
    if campaign is None:  # a new campaign; the editing-mode switch reloads the page with what was typed
        typed = {key: request.args.get(key, "") for key in ("name", "subject", "preheader")}
        content_type = request.args.get("content_type") or "visual"
        values = {**typed, "content_type": content_type if content_type in set(ContentType) else "visual",
                  "language": "ja", "charset": "utf-8", "lists": [], "body": "", "draft": str(uuid.uuid4()),
                  "ab": ab_form.form_values(None)}
        if request.args.get("starter"):  # picked in the gallery: its copy, in the visual editor
            with showing_refusal():
                values.update(campaign_values(get_starter(request.args["starter"]),
                                              copy_language(request.args.get("lang"))))
        return values
    return {"ab": ab_form.form_values(ab.test_of(campaign)),
            "name": campaign.name, "subject": campaign.subject, "preheader": campaign.preheader,
            "from_email": campaign.from_email, "content_type": campaign.content_type.value,
            "template_id": campaign.template_id, "lists": campaign.lists, "language": campaign.language,
            "charset": campaign.charset, "body": campaign.body, "altbody": campaign.altbody or "",
            "body_source": campaign.body_source, "archive": campaign.archive,
            "rate_per_minute": campaign.rate_per_minute or "", "send_window_start": campaign.quiet_end or "",
            "send_window_end": campaign.quiet_start or "",  # the window is the quiet hours the other way round
            "send_time_optimised": campaign.send_time_optimised, "segment_id": campaign.segment_id}


def posted_campaign(campaign: Campaign | None) -> dict[str, Any]:
    values: dict[str, Any] = request.form.to_dict()
    values["lists"] = [i for i in map(id_or_none, request.form.getlist("lists")) if i is not None]
    values["archive"] = request.form.get("archive") == "on"
    if "send_window_start" in request.form:  # an automation's message has no pace or window on its form
        values["send_time_optimised"] = request.form.get("send_time_optimised") == "on"
    try:
        values["body_source"] = json.loads(request.form.get("body_source") or "null")
    except json.JSONDecodeError:
        values["body_source"] = None
    if request.form.get("ab_form"):  # the A/B test's part of the form was shown (a campaign not sent yet)
        values["ab"] = ab_form.posted(ab.test_of(campaign) if campaign else None)
        if values["ab"]["enabled"]:
            values["ab_test"] = {key: values["ab"][key] for key in ("test_share", "wait_hours", "measure", "manual")}
            values["ab_test"]["variants"] = values["ab"]["variants"][:values["ab"]["count"]]
        else:
            values["ab_test"] = None
    return values


def _draft_uuid(values: dict[str, Any]) -> str | None:
    """The uuid the new-campaign form was opened with (it becomes the campaign's), if the form sent a valid one."""
    try:
        return str(uuid.UUID(str(values.get("draft", ""))))
    except ValueError:
        return None


def _campaign_by_uuid(value: str) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.uuid == value))


def _save_draft(campaign: Campaign | None, values: dict[str, Any], draft: str | None) -> tuple[Campaign, list[str]]:
    """Save the form; a new campaign takes the form's uuid, so submits racing each other save one campaign."""
    try:
        return ab.save_campaign_and_test(campaign, values, uuid=draft, names=CAMPAIGN_LABELS)
    except IntegrityError:
        db.session.rollback()
        twin = _campaign_by_uuid(draft) if draft else None
        if twin is None:
            raise
        return ab.save_campaign_and_test(twin, values, names=CAMPAIGN_LABELS)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@bp.route("/campaigns/<int:campaign_id>", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS_READ)
def campaign_edit(campaign_id: int | None = None) -> Any:
    """Edit a draft: its fields and its body in the editor of its content type."""
    campaign = get_campaign(campaign_id) if campaign_id else None
    if request.method == "GET":
        if campaign is not None and not editable(campaign):
            # Running, finished or cancelled: nothing can change, so show the page that says how it went.
            return redirect(url_for("compose.campaign_preview", campaign_id=campaign.id))
        return _campaign_editor(campaign, _campaign_values(campaign))
    if not can(Permission.CAMPAIGNS_WRITE):
        abort(403)
    values = posted_campaign(campaign)
    draft = _draft_uuid(values) if campaign is None else None
    if draft and (twin := _campaign_by_uuid(draft)) is not None:  # this form was already saved: save over it
        if not editable(twin):
            return redirect(url_for("compose.campaign_preview", campaign_id=twin.id))
        campaign = twin
    with showing_refusal(flash_it=False) as attempt:  # the page shows the refusal by its fields
        saved = save_posted(lambda: _save_draft(campaign, values, draft))
        queue_start(saved)  # a scheduled campaign's new send time moves its start
        flash(_("Campaign “%(name)s” saved.", name=saved.name), "success")
        target = "compose.campaign_preview" if request.form.get("then") == "preview" else "compose.campaign_edit"
        return redirect(url_for(target, campaign_id=saved.id))
    return _campaign_editor(campaign, values, 400, attempt.error)


def _reader() -> Subscriber | None:
    """Return the subscriber a preview is rendered for (?reader=email), or None for a sample reader."""
    email = request.args.get("reader", "").strip()
    key = address_key(address) if email and (address := valid_address(email)) else None
    return db.session.scalar(select(Subscriber).where(Subscriber.email_key == key)) if key else None


@bp.get("/campaigns/<int:campaign_id>/preview")
@require(Permission.CAMPAIGNS_READ)
def campaign_preview(campaign_id: int) -> Any:
    """Show the campaign at desktop and phone width for one reader, with the checks and the test send."""
    campaign = get_campaign(campaign_id)
    reader = _reader()
    if request.args.get("reader") and reader is None:
        flash(_("No subscriber has the address %(email)s; showing a sample reader.",
                email=request.args["reader"]), "warning")
    return _preview_page(campaign, reader)


def _variant() -> int:
    """The A/B variant a preview shows (?variant=2 for B; 0: the campaign as it is)."""
    return id_or_none(request.args.get("variant"), ab.MAX_VARIANTS) or 0


def _preview_page(campaign: Campaign, reader: Subscriber | None, typed: str = "", status: int = 200) -> Any:
    """The preview page (``typed``: the test send's addresses as typed), or the editor when it cannot render."""
    with showing_refusal():
        test, variant = ab.test_of(campaign), _variant()
        result = preview(ab.as_sent(campaign, ab.variant_at(campaign, variant)), reader)
        audience = audience_size(campaign) if campaign.started_at is None else campaign.to_send
        if campaign.started_at is None and not audience:  # said first among the checks: nothing else matters yet
            result.checks.insert(0, {"level": "error", "message": (
                _("No one would receive it: choose a list on the campaign's page.") if not campaign.lists else
                _("No one would receive it: the chosen lists (and segment) have no subscribers who can be mailed."))})
        return render_template(
            "mailer/campaign_preview.html", campaign=campaign, preview=result, reader=reader, form=ConfirmForm(),
            progress=campaign_progress(campaign), audience=audience,
            moves=MOVES.get(campaign.status, set()), status_labels=CAMPAIGN_STATUS_LABELS, zone=local_zone().key,
            typed_addresses=typed, ab_test=test, variant=variant, ab_label=ab.label,
            ab_warning=ab.warning(campaign, test, audience) if campaign.started_at is None else None,
            measure_labels=ab_form.MEASURE_LABELS), status
    return redirect(url_for("compose.campaign_edit", campaign_id=campaign.id))


@bp.get("/campaigns/<int:campaign_id>/preview.html")
@require(Permission.CAMPAIGNS_READ)
def campaign_preview_html(campaign_id: int) -> Any:
    """Serve the rendered HTML for the preview frames (one A/B variant's, with ?variant=)."""
    campaign = get_campaign(campaign_id)
    return preview_response(preview(ab.as_sent(campaign, ab.variant_at(campaign, _variant())), _reader()).html)


@bp.post("/campaigns/<int:campaign_id>/status")
@require(Permission.CAMPAIGNS_SEND)
def campaign_status(campaign_id: int) -> Any:
    """Start, pause, resume, cancel or unschedule (the buttons of the campaign's page and of the list)."""
    campaign = get_campaign(campaign_id)
    if ConfirmForm().validate_on_submit():
        _move(campaign, lambda: change_status(campaign, request.form.get("status", "")))
    return _back_to(campaign)


@bp.post("/campaigns/<int:campaign_id>/delete")
@require(Permission.CAMPAIGNS_WRITE)
def campaign_delete(campaign_id: int) -> Any:
    """Delete a campaign that is not running, then show the list."""
    campaign = get_campaign(campaign_id)
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            delete_campaign(campaign)
            flash(_("Deleted the campaign “%(name)s”.", name=campaign.name), "success")
            return redirect(url_for("compose.campaigns"))
        return redirect(url_for("compose.campaign_preview", campaign_id=campaign_id))
    return redirect(url_for("compose.campaigns"))


@bp.post("/campaigns/<int:campaign_id>/schedule")
@require(Permission.CAMPAIGNS_SEND)
def campaign_schedule(campaign_id: int) -> Any:
    """Schedule a campaign at a time typed in the installation's timezone."""
    campaign = get_campaign(campaign_id)
    if ConfirmForm().validate_on_submit():
        def schedule_at() -> None:
            campaign.send_at = parse_local_time(request.form.get("send_at", ""))
            check_future(campaign.send_at)
            change_status(campaign, CampaignStatus.SCHEDULED)

        _move(campaign, schedule_at)
    return _back_to(campaign)


def _move(campaign: Campaign, change: Callable[[], None]) -> None:
    """Make a lifecycle change and say how it went."""
    with showing_refusal():
        change()
        flash(_("Campaign “%(name)s”: %(status)s.", name=campaign.name,
                status=CAMPAIGN_STATUS_LABELS[campaign.status.value]), "success")


def _back_to(campaign: Campaign) -> Any:
    """Return to the campaign list the buttons were on (with its filters), else to the campaign's page."""
    back = request.form.get("back") or ""
    if back.startswith("/campaigns/?") or back == "/campaigns/":
        return redirect(back)
    return redirect(url_for("compose.campaign_preview", campaign_id=campaign.id))


@bp.app_template_global()
def survey_link_base() -> str:
    """Where the visual editor's survey blocks link to, before ``<question>/<answer>`` (a tracked link when sent)."""
    return str(current_app.config["KAIRAN"].base_url) + SURVEY_ANSWER.prefix


@bp.app_template_global()
def send_at_input(campaign: Campaign) -> str:
    """The schedule input's value: the campaign's send time if it is still ahead, else the next full hour."""
    ahead = campaign.send_at is not None and campaign.send_at > utcnow()
    return local_input_value(campaign.send_at if ahead else soon())


@bp.get("/campaigns/<int:campaign_id>/progress.json")
@require(Permission.CAMPAIGNS_READ)
def campaign_progress_json(campaign_id: int) -> Any:
    """Answer the campaign page's progress poll."""
    return jsonify(data=campaign_progress(get_campaign(campaign_id)))


@bp.post("/campaigns/<int:campaign_id>/test")
@require(Permission.CAMPAIGNS_SEND)
def campaign_test(campaign_id: int) -> Any:
    """Queue a test send to the typed addresses, rendered for the previewed reader."""
    campaign = get_campaign(campaign_id)
    reader = _reader()
    back = redirect(url_for("compose.campaign_preview", campaign_id=campaign.id, reader=request.args.get("reader"),
                            variant=_variant() or None))
    if not ConfirmForm().validate_on_submit():
        return back
    typed = request.form.get("addresses", "")
    with showing_refusal():
        addresses = queue_test_send(campaign, reader, [a.strip() for a in typed.replace(",", "\n").splitlines()
                                                       if a.strip()], _variant())
        flash(_("Test of “%(name)s” queued for %(to)s. It appears in the Outbox in a moment.",
                name=campaign.name, to=", ".join(addresses)), "success")
        return back
    return _preview_page(campaign, reader, typed, 400)  # the addresses come back as typed, with the reason


# The public archive (listmonk's /archive)


@bp.get("/archive")
@public
def archive() -> Any:
    """List the web versions of sent campaigns (all public lists, or ?list=<uuid>)."""
    list_uuid = request.args.get("list") or None
    lists = {m.uuid: m.name for m in db.session.scalars(select(MailingList).where(
        MailingList.type == ListType.PUBLIC))}
    entries = [(c, archive_subject(c)) for c in archived_campaigns(list_uuid)]
    return render_template("mailer/archive.html", entries=entries, lists=lists, current=list_uuid)


@bp.get(ARCHIVE_MESSAGE.rule)
@public
def archive_message(campaign_uuid: str) -> Any:
    """Show one campaign's web version (the "view in browser" link of its mail)."""
    campaign = archived_campaign(campaign_uuid)
    if campaign is None:
        abort(404)
    response = preview_response(web_version(campaign))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
