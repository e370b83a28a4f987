"""UI pages for composing: layouts, campaign drafts with their editors, preview and checks, test sends, media."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.api import DEFAULT_PER_PAGE
from core.auth import Permission, public, require
from core.db import db, utcnow
from core.errors import KairanError, ValidationError
from core.forms import ConfirmForm
from core.inputs import INT64_MAX, id_or_none
from core.validation import choice
from core.web import can
from lists.addresses import address_key, normalise_email
from lists.models import ListType, MailingList, Segment, Subscriber
from lists.services import lists_query
from mailer.campaigns import (
    EDITABLE_STATUSES,
    archive_subject,
    archived_campaign,
    archived_campaigns,
    check_sendable,
    delete_campaign,
    get_campaign,
    preview,
    save_campaign,
    sender_of,
    web_version,
)
from mailer.domains import unreal_sender
from mailer.jobs import queue_campaign_test
from mailer.layouts import all_templates, delete_template, get_template, preview_layout, save_template, set_default
from mailer.media import all_media, by_uuid, delete_media, get_media, media_as_dict, stored_name, upload
from mailer.media_store import FolderStore, media_store
from mailer.models import Campaign, CampaignStatus, ContentType, Template, TemplateType
from mailer.overview import all_tags, campaigns_query, delivery_counts
from mailer.paths import ARCHIVE_MESSAGE, MEDIA_FILE
from mailer.scheduling import check_future, local_input_value, local_zone, parse_local_time, queue_start, soon
from mailer.sending import MOVES, audience_size, campaign_progress, change_status
from mailer.views import preview_response

bp = Blueprint("compose", __name__)
CAMPAIGN_STATUS_LABELS = {"draft": _l("Draft"), "scheduled": _l("Scheduled"), "running": _l("Running"),
                          "paused": _l("Paused"), "cancelled": _l("Cancelled"), "finished": _l("Finished")}
T = TypeVar("T")

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
# The npm packages (package.json) whose files the UI loads; nothing else in node_modules is served.
VENDOR_PACKAGES = {"grapesjs", "grapesjs-preset-newsletter", "codemirror", "font-awesome", "quill", "chart.js"}
CACHE_A_YEAR = 365 * 24 * 3600


@bp.get("/vendor/<path:name>")
@public
def vendor(name: str) -> Any:
    """Serve a file of a third-party browser package from node_modules (paths inside it stay relative)."""
    if name.split("/", 1)[0] not in VENDOR_PACKAGES:
        abort(404)
    return send_from_directory(NODE_MODULES, name, max_age=3600)


def _save_posted(save: Callable[[], tuple[T, list[str]]], show_again: Callable[[], Any]) -> tuple[T | None, Any]:
    """Save a posted editor form: (what was saved, None), or (None, the editor again with the reason flashed)."""
    if not ConfirmForm().validate_on_submit():
        return None, show_again()
    try:
        saved, warnings = save()
    except KairanError as error:
        db.session.rollback()
        flash(error.message, "error")
        return None, show_again()
    for warning in warnings:
        flash(warning, "warning")
    return saved, None


# Layouts


@bp.get("/templates/")
@require(Permission.TEMPLATES_READ)
def templates() -> Any:
    """List the email layouts."""
    return render_template("mailer/templates.html", templates=all_templates(), form=ConfirmForm())


def _template_editor(template: Template | None, values: dict[str, Any], status: int = 200) -> Any:
    return render_template("mailer/template_edit.html", template=template, values=values, form=ConfirmForm(),
                           types=list(TemplateType)), status


@bp.route("/templates/new", methods=["GET", "POST"])
@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@require(Permission.TEMPLATES_READ)
def template_edit(template_id: int | None = None) -> Any:
    """Edit a layout; saving checks it and names the line of an error."""
    template = get_template(template_id) if template_id else None
    if request.method == "GET":
        values = {"name": template.name, "type": template.type.value, "subject": template.subject,
                  "body": template.body} if template else {"type": "campaign", "body": _starter_layout()}
        return _template_editor(template, values)
    if not can(Permission.TEMPLATES_WRITE):
        abort(403)
    values = request.form.to_dict()
    saved, refused = _save_posted(lambda: save_template(template, values),
                                  lambda: _template_editor(template, values, 400))
    if saved is None:
        return refused
    flash(_("Template “%(name)s” saved.", name=saved.name), "success")
    return redirect(url_for("compose.template_edit", template_id=saved.id))


def _starter_layout() -> str:
    layouts = Path(current_app.root_path) / "templates" / "mailer" / "layouts"
    return (layouts / "plain.html").read_text(encoding="utf-8")


@bp.post("/templates/preview")
@require(Permission.TEMPLATES_READ)
def template_preview() -> Any:
    """Render a layout being edited around a sample body (the editor posts it into a sandboxed frame)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        html = preview_layout(request.form.get("body", ""), choice(TemplateType, request.form.get("type"), "type",
                                                                    TemplateType.CAMPAIGN))
    except KairanError as error:
        html = f"<p style='font-family:sans-serif;color:#b00020'>{escape(error.message)}</p>"
    return preview_response(html)


@bp.post("/templates/<int:template_id>/default")
@require(Permission.TEMPLATES_WRITE)
def template_default(template_id: int) -> Any:
    """Make a layout the default."""
    if ConfirmForm().validate_on_submit():
        set_default(get_template(template_id))
        flash(_("Default layout changed."), "success")
    return redirect(url_for("compose.templates"))


@bp.post("/templates/<int:template_id>/delete")
@require(Permission.TEMPLATES_WRITE)
def template_delete(template_id: int) -> Any:
    """Delete a layout (not the default, not one in use)."""
    if ConfirmForm().validate_on_submit():
        try:
            delete_template(get_template(template_id))
            flash(_("Template deleted."), "success")
        except ValidationError as error:
            flash(error.message, "error")
    return redirect(url_for("compose.templates"))


# Campaigns


@bp.get("/campaigns/")
@require(Permission.CAMPAIGNS_READ)
def campaigns() -> Any:
    """List the campaigns: search, status and tag filters, pages, and each one's lifecycle buttons."""
    filters = {"query": request.args.get("query", "").strip(), "status": request.args.get("status", ""),
               "tag": request.args.get("tag", "")}
    page = id_or_none(request.args.get("page"), INT64_MAX) or 1
    try:
        stmt = campaigns_query(filters["query"], [filters["status"]] if filters["status"] else [],
                               [filters["tag"]] if filters["tag"] else [])
    except ValidationError as error:
        flash(error.message, "error")
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


def _campaign_editor(campaign: Campaign | None, values: dict[str, Any], status: int = 200) -> Any:
    lists = [{"id": m.id, "name": m.name} for m in db.session.scalars(lists_query(order_by="name"))]
    return render_template(
        "mailer/campaign_edit.html", campaign=campaign, values=values, form=ConfirmForm(), lists=lists,
        segments=db.session.execute(select(Segment.id, Segment.name).order_by(Segment.name)).all(),
        layouts=all_templates("campaign"), content_types=list(ContentType),
        media=[media_as_dict(m) for m in all_media()], editor_messages=visual_editor_messages(),
        sender_warning=unreal_sender(values.get("from_email") or sender_of(None)),
    ), status


def _campaign_values(campaign: Campaign | None) -> dict[str, Any]:
    if campaign is None:  # a new campaign; the editing-mode switch reloads the page with what was typed
        typed = {key: request.args.get(key, "") for key in ("name", "subject", "preheader")}
        content_type = request.args.get("content_type") or "visual"
        return {**typed, "content_type": content_type if content_type in set(ContentType) else "visual",
                "language": "ja", "charset": "utf-8", "lists": [], "body": "", "draft": str(uuid.uuid4())}
    return {"name": campaign.name, "subject": campaign.subject, "preheader": campaign.preheader,
            "from_email": campaign.from_email, "content_type": campaign.content_type.value,
            "template_id": campaign.template_id, "lists": campaign.lists, "language": campaign.language,
            "charset": campaign.charset, "body": campaign.body, "altbody": campaign.altbody or "",
            "body_source": campaign.body_source, "archive": campaign.archive,
            "rate_per_minute": campaign.rate_per_minute or "", "quiet_start": campaign.quiet_start or "",
            "quiet_end": campaign.quiet_end or "", "segment_id": campaign.segment_id}


def _posted_campaign() -> dict[str, Any]:
    values: dict[str, Any] = request.form.to_dict()
    values["lists"] = [i for i in map(id_or_none, request.form.getlist("lists")) if i is not None]
    values["archive"] = request.form.get("archive") == "on"
    try:
        values["body_source"] = json.loads(request.form.get("body_source") or "null")
    except json.JSONDecodeError:
        values["body_source"] = None
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
        return save_campaign(campaign, values, uuid=draft)
    except IntegrityError:
        db.session.rollback()
        twin = _campaign_by_uuid(draft) if draft else None
        if twin is None:
            raise
        return save_campaign(twin, values)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@bp.route("/campaigns/<int:campaign_id>", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS_READ)
def campaign_edit(campaign_id: int | None = None) -> Any:
    """Edit a draft: its fields and its body in the editor of its content type."""
    campaign = get_campaign(campaign_id) if campaign_id else None
    if request.method == "GET":
        if campaign is not None and campaign.status not in EDITABLE_STATUSES:
            # Running, finished or cancelled: nothing can change, so show the page that says how it went.
            return redirect(url_for("compose.campaign_preview", campaign_id=campaign.id))
        return _campaign_editor(campaign, _campaign_values(campaign))
    if not can(Permission.CAMPAIGNS_WRITE):
        abort(403)
    values = _posted_campaign()
    draft = _draft_uuid(values) if campaign is None else None
    if draft and (twin := _campaign_by_uuid(draft)) is not None:  # this form was already saved: save over it
        if twin.status not in EDITABLE_STATUSES:
            return redirect(url_for("compose.campaign_preview", campaign_id=twin.id))
        campaign = twin
    saved, refused = _save_posted(lambda: _save_draft(campaign, values, draft),
                                  lambda: _campaign_editor(campaign, values, 400))
    if saved is None:
        return refused
    queue_start(saved)  # a scheduled campaign's new send time moves its start
    flash(_("Campaign “%(name)s” saved.", name=saved.name), "success")
    target = "compose.campaign_preview" if request.form.get("then") == "preview" else "compose.campaign_edit"
    return redirect(url_for(target, campaign_id=saved.id))


def _reader() -> Subscriber | None:
    """Return the subscriber a preview is rendered for (?reader=email), or None for a sample reader."""
    email = request.args.get("reader", "").strip()
    if not email:
        return None
    try:
        key = address_key(normalise_email(email))
    except ValidationError:
        return None
    return db.session.scalar(select(Subscriber).where(Subscriber.email_key == key))


@bp.get("/campaigns/<int:campaign_id>/preview")
@require(Permission.CAMPAIGNS_READ)
def campaign_preview(campaign_id: int) -> Any:
    """Show the campaign at desktop and phone width for one reader, with the checks and the test send."""
    campaign = get_campaign(campaign_id)
    reader = _reader()
    if request.args.get("reader") and reader is None:
        flash(_("No subscriber has the address %(email)s; showing a sample reader.",
                email=request.args["reader"]), "warning")
    try:
        result = preview(campaign, reader)
    except KairanError as error:
        flash(error.message, "error")
        return redirect(url_for("compose.campaign_edit", campaign_id=campaign.id))
    return render_template("mailer/campaign_preview.html", campaign=campaign, preview=result, reader=reader,
                           form=ConfirmForm(), progress=campaign_progress(campaign),
                           audience=audience_size(campaign) if campaign.started_at is None else campaign.to_send,
                           moves=MOVES.get(campaign.status, set()), status_labels=CAMPAIGN_STATUS_LABELS,
                           zone=local_zone().key)


@bp.get("/campaigns/<int:campaign_id>/preview.html")
@require(Permission.CAMPAIGNS_READ)
def campaign_preview_html(campaign_id: int) -> Any:
    """Serve the rendered HTML for the preview frames."""
    return preview_response(preview(get_campaign(campaign_id), _reader()).html)


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
        try:
            delete_campaign(campaign)
            flash(_("Deleted the campaign “%(name)s”.", name=campaign.name), "success")
        except KairanError as error:
            flash(error.message, "error")
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
    try:
        change()
        flash(_("Campaign “%(name)s”: %(status)s.", name=campaign.name,
                status=CAMPAIGN_STATUS_LABELS[campaign.status.value]), "success")
    except KairanError as error:
        db.session.rollback()
        flash(error.message, "error")


def _back_to(campaign: Campaign) -> Any:
    """Return to the campaign list the buttons were on (with its filters), else to the campaign's page."""
    back = request.form.get("back") or ""
    if back.startswith("/campaigns/?") or back == "/campaigns/":
        return redirect(back)
    return redirect(url_for("compose.campaign_preview", campaign_id=campaign.id))


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
    back = redirect(url_for("compose.campaign_preview", campaign_id=campaign.id, reader=request.args.get("reader")))
    if not ConfirmForm().validate_on_submit():
        return back
    raw = [a.strip() for a in request.form.get("addresses", "").replace(",", "\n").splitlines() if a.strip()]
    if not raw:
        flash(_("Enter at least one address to send the test to."), "error")
        return back
    try:
        addresses = [normalise_email(a) for a in raw]
        check_sendable(campaign, reader)
        queue_campaign_test(campaign.id, reader.id if reader else None, addresses)
    except ValidationError as error:
        flash(error.message, "error")
        return back
    flash(_("Test of “%(name)s” queued for %(to)s. It appears in the Outbox in a moment.",
            name=campaign.name, to=", ".join(addresses)), "success")
    return back


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


# Media


@bp.get("/media/")
@require(Permission.CAMPAIGNS_READ)
def media() -> Any:
    """Show the media library."""
    return render_template("mailer/media.html", media=[media_as_dict(m) for m in all_media()], form=ConfirmForm())


@bp.post("/media/upload")
@require(Permission.CAMPAIGNS_WRITE)
def media_upload() -> Any:
    """Upload images (the library page's form, or the visual editor's asset manager, which wants JSON)."""
    wants_json = request.accept_mimetypes.best == "application/json"
    if not ConfirmForm().validate_on_submit():
        abort(400)
    uploaded, errors = [], []
    for file in request.files.getlist("files") or request.files.getlist("files[]"):
        try:
            uploaded.append(media_as_dict(upload(file.filename or "image", file.stream)))
        except ValidationError as error:
            db.session.rollback()
            errors.append(error.message)
    if wants_json:
        return jsonify(data=[{"src": m["url"], "name": m["filename"], "type": "image"} for m in uploaded],
                       errors=errors), 200 if uploaded or not errors else 400
    for message in errors:
        flash(message, "error")
    if uploaded:
        flash(_("%(n)d images uploaded.", n=len(uploaded)), "success")
    return redirect(url_for("compose.media"))


@bp.post("/media/<int:media_id>/delete")
@require(Permission.CAMPAIGNS_WRITE)
def media_delete(media_id: int) -> Any:
    """Delete an image."""
    if ConfirmForm().validate_on_submit():
        delete_media(get_media(media_id))
        flash(_("Image deleted."), "success")
    return redirect(url_for("compose.media"))


@bp.get(MEDIA_FILE.rule)
@public
def media_file(uuid: str, ext: str) -> Any:
    """Serve an image to mail clients; its URL never changes, so it may be cached for a year."""
    found = by_uuid(uuid)
    if found is None or stored_name(found) != f"{uuid}.{ext}":
        abort(404)
    store = media_store()
    if not isinstance(store, FolderStore):  # mail names the bucket's URL; an old link still finds the image
        return redirect(store.url(stored_name(found)), 301)
    path = store.path(stored_name(found))
    if not path.exists():
        abort(404)
    return send_file(path, mimetype=found.content_type, max_age=CACHE_A_YEAR, conditional=True)
