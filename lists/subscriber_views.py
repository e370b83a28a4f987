"""UI pages for subscribers: search, bulk actions, and one subscriber's profile and timeline."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from core.auth import Permission, require
from core.db import db
from core.errors import ValidationError
from core.forms import ConfirmForm
from core.inputs import id_or_none
from core.refusals import showing_refusal
from core.safecsv import chosen_encoding
from core.timeline import timeline
from lists.consent_evidence import coded, describe
from lists.export import export_csv, subscriber_data
from lists.export_columns import csv_download, header_language
from lists.forms import SubscriberForm
from lists.models import ConsentMethod, ConsentRecord, MailingList, Subscriber, SubscriberStatus, SubscriptionStatus
from lists.segments import all_segments, get_segment
from lists.services import lists_query
from lists.subscribers import (
    BULK_ACTIONS,
    Consent,
    apply_bulk,
    count_subscribers,
    create_subscriber,
    delete_subscribers,
    get_subscriber,
    subscribers_query,
    update_subscriber,
)
from lists.timeline import method_label

bp = Blueprint("subscribers", __name__, url_prefix="/subscribers")
PAGE_SIZE = 50


def admin_consent() -> Consent:
    """Record UI changes with the user's name and address."""
    return Consent(ConsentMethod.ADMIN, evidence=coded("admin", user=current_user.username), ip=request.remote_addr,
                   user_agent=request.user_agent.string)


def _filters(source: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read the search and filters (from the query string, or a bulk form), ignoring values that are not valid."""
    source = request.args if source is None else source
    list_id = source.get("list_id", "")
    status = source.get("status", "")
    subscription_status = source.get("subscription_status", "")
    segment_id = source.get("segment_id", "")
    return {
        "segment_id": id_or_none(segment_id),
        "search": source.get("search", "").strip(),
        "list_id": id_or_none(list_id),
        "status": status if status in {s.value for s in SubscriberStatus} else None,
        "subscription_status": subscription_status if subscription_status in {s.value for s in SubscriptionStatus}
        else None,
    }


def _query_args(filters: dict[str, Any]) -> dict[str, Any]:
    """Turn the page's filters into subscribers_query's arguments (a segment becomes its rules)."""
    args = {key: value for key, value in filters.items() if key != "segment_id"}
    if filters.get("segment_id"):
        args["rules"] = get_segment(filters["segment_id"]).rules
    return args


def _all_lists() -> list[MailingList]:
    return list(db.session.scalars(lists_query(order_by="name")))


@bp.get("/")
@require(Permission.SUBSCRIBERS_READ)
def index() -> Any:
    """Search subscribers; pages go by id (keyset), so page 500 is as fast as page 1."""
    return _index(None)


def _index(form: SubscriberForm | None) -> str:
    """The search page; ``form`` is a refused new subscriber, shown again as typed (else an empty form)."""
    filters = _filters()
    stmt = subscribers_query(**_query_args(filters))
    before = id_or_none(request.args.get("before"))
    if before is not None:
        stmt = stmt.where(Subscriber.id < before)
    rows = list(db.session.scalars(stmt.limit(PAGE_SIZE + 1)))
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    total = count_subscribers(**_query_args(filters))
    lists = _all_lists()
    if form is None:
        form = SubscriberForm(prefix="new")
        if len(lists) == 1:
            form.lists.data = [lists[0].id]  # with one list, a person added by hand is meant for it
    form.lists.choices = [(m.id, m.name) for m in lists]
    return render_template(
        "lists/subscribers.html", subscribers=rows, total=total or 0, filters=filters, lists=lists,
        segments=all_segments(),
        next_before=rows[-1].id if has_more and rows else None, first_page=before is None,
        filter_args={key: value for key, value in filters.items() if value},
        form=form, confirm_form=ConfirmForm(),
    )


@bp.post("/")
@require(Permission.SUBSCRIBERS_WRITE)
def create() -> Any:
    """Add a subscriber by hand."""
    form = SubscriberForm(prefix="new")
    form.lists.choices = [(m.id, m.name) for m in _all_lists()]
    if form.validate_on_submit():
        with showing_refusal(form, "email"):
            subscriber = create_subscriber(
                {"email": form.email.data, "name": form.name.data, "status": form.status.data,
                 "attribs": _parse_attribs(form.attribs.data), "lists": form.lists.data,
                 "preconfirm_subscriptions": True},
                admin_consent(),
            )
            flash(_("Subscriber %(email)s added.", email=subscriber.email), "success")
            return redirect(url_for("subscribers.detail", subscriber_id=subscriber.id))
    return _index(form), 400


def _parse_attribs(raw: str | None) -> dict[str, Any]:
    """Parse the attribute editor's JSON, naming the line of a mistake."""
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as error:
        raise ValidationError(_("The attributes are not valid JSON (line %(line)d, column %(col)d: %(msg)s).",
                                line=error.lineno, col=error.colno, msg=error.msg), field="attribs") from None
    if not isinstance(value, dict):
        raise ValidationError(_("attribs must be a JSON object."), field="attribs")
    return value


def _detail(subscriber: Subscriber, form: SubscriberForm) -> Any:
    records = db.session.scalars(
        select(ConsentRecord).where(ConsentRecord.subscriber_id == subscriber.id).order_by(ConsentRecord.id.desc())
    ).all()
    lists = _all_lists()
    form.lists.choices = [(m.id, m.name) for m in lists]
    return render_template(
        "lists/subscriber.html", subscriber=subscriber, form=form, records=records, method_label=method_label,
        consent_evidence=describe,
        list_names={m.id: m.name for m in lists},
        events=timeline(subscriber.id), confirm_form=ConfirmForm(),
        # sections later packages add (automations: the runs the subscriber is in)
        sections=[section(subscriber.id) for section in current_app.extensions.get("kairan_subscriber_sections", [])],
    )


@bp.get("/<int:subscriber_id>")
@require(Permission.SUBSCRIBERS_READ)
def detail(subscriber_id: int) -> Any:
    """Show a subscriber: profile, attributes, subscriptions with consent records, timeline."""
    subscriber = get_subscriber(subscriber_id)
    form = SubscriberForm(obj=subscriber)
    # WTForms prefers obj over data=, so fields shown differently from the model are set here.
    form.attribs.data = json.dumps(subscriber.attribs or {}, ensure_ascii=False, indent=2)
    form.lists.data = []
    return _detail(subscriber, form)


@bp.post("/<int:subscriber_id>")
@require(Permission.SUBSCRIBERS_WRITE)
def update(subscriber_id: int) -> Any:
    """Change a subscriber's profile and attributes, and add them to lists."""
    subscriber = get_subscriber(subscriber_id)
    form = SubscriberForm()
    form.lists.choices = [(m.id, m.name) for m in _all_lists()]
    if form.validate_on_submit():
        with showing_refusal(form, "attribs"):
            update_subscriber(subscriber, {
                "email": form.email.data, "name": form.name.data, "status": form.status.data,
                "attribs": _parse_attribs(form.attribs.data), "lists": form.lists.data,
                "preconfirm_subscriptions": True,
            }, admin_consent(), partial=False)
            flash(_("Changes to %(email)s saved.", email=subscriber.email), "success")
            return redirect(url_for("subscribers.detail", subscriber_id=subscriber_id))
    db.session.rollback()  # the form's own checks failed before the service ran: nothing of it is kept
    return _detail(get_subscriber(subscriber_id), form), 400


@bp.post("/bulk")
@require(Permission.SUBSCRIBERS_WRITE)
def bulk() -> Any:
    """Apply an action to the selected subscribers, or to every subscriber the search matches."""
    action = request.form.get("action", "")
    if not ConfirmForm().validate_on_submit() or action not in BULK_ACTIONS:
        flash(_("Choose an action for the selected subscribers."), "error")
        return redirect(url_for("subscribers.index"))
    if request.form.get("scope") == "all":
        stmt = subscribers_query(**_query_args(_filters(request.form)))
        ids = list(db.session.scalars(stmt.with_only_columns(Subscriber.id)))
    else:
        ids = [i for i in map(id_or_none, request.form.getlist("ids")) if i is not None]
    if not ids:
        flash(_("No subscriber selected."), "error")
        return redirect(url_for("subscribers.index"))
    target = [request.form.get("target_list", "")] if action in ("add", "remove", "unsubscribe") else []
    with showing_refusal():
        apply_bulk(ids, action, target, "confirmed", admin_consent())
        flash(ngettext("%(num)d subscriber changed.", "%(num)d subscribers changed.", len(ids)), "success")
    back = request.form.get("back") or ""
    return redirect(back if back.startswith("/subscribers") else url_for("subscribers.index"))


@bp.get("/export.csv")
@require(Permission.SUBSCRIBERS_WRITE)
def export() -> Any:
    """Download the subscribers the search selects as CSV (UTF-8 with BOM, or CP932 for older Excel)."""
    encoding = chosen_encoding(request.args)
    stmt = subscribers_query(**_query_args(_filters()))
    return csv_download(export_csv(stmt, encoding, header_language()), "subscribers", encoding)


@bp.get("/<int:subscriber_id>/data.json")
@require(Permission.SUBSCRIBERS_WRITE)
def data(subscriber_id: int) -> Any:
    """Download everything kept about one subscriber (for a privacy request)."""
    response = jsonify(subscriber_data(get_subscriber(subscriber_id)))
    response.headers["Content-Disposition"] = f"attachment; filename=subscriber-{subscriber_id}.json"
    return response


@bp.post("/<int:subscriber_id>/delete")
@require(Permission.SUBSCRIBERS_WRITE)
def delete(subscriber_id: int) -> Any:
    """Delete a subscriber with everything kept about them (a privacy request's wipe)."""
    subscriber = get_subscriber(subscriber_id)
    if ConfirmForm().validate_on_submit():
        email = subscriber.email
        delete_subscribers([subscriber_id])
        flash(_("%(email)s and everything kept about them deleted.", email=email), "success")
    return redirect(url_for("subscribers.index"))
