"""Webhook endpoints in the UI (admins): the list, an endpoint's form, secret, test button and delivery log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField

from core.auth import Permission, require
from core.forms import ConfirmForm
from core.refusals import showing_refusal
from webhooks import endpoints, log
from webhooks.catalogue import EVENT_TYPES, HIGH_VOLUME
from webhooks.models import Endpoint

bp = Blueprint("outgoing_webhooks", __name__)


class EndpointForm(FlaskForm):
    """An endpoint's settings; the service checks them (the event types come as checkboxes, read as a list)."""

    url = StringField(_l("URL"), render_kw={"placeholder": "https://shop.example.jp/kairan-hooks",
                                            "inputmode": "url", "autocomplete": "off"})
    description = StringField(_l("Description"))
    event_types = StringField(_l("Events to send"))  # for the refusal: the checkboxes are drawn by hand
    batch_high_volume = BooleanField(_l("Send opens and clicks in batches (up to 100 in one request)"))
    enabled = BooleanField(_l("Enabled"), default=True)


def _data(form: EndpointForm) -> dict[str, Any]:
    return {"url": form.url.data, "description": form.description.data,
            "event_types": request.form.getlist("event_types"), "batch_high_volume": form.batch_high_volume.data,
            "enabled": form.enabled.data}


def _edit_page(form: EndpointForm, endpoint: Endpoint | None, chosen: list[str], *, secret_shown: bool = False,
               before: int | None = None) -> Any:
    attempts = log.attempts(endpoint, before) if endpoint else []
    return render_template("webhooks/endpoint.html", form=form, endpoint=endpoint, event_types=EVENT_TYPES,
                           high_volume=HIGH_VOLUME, chosen=chosen, secret_shown=secret_shown, attempts=attempts,
                           page=log.PAGE, waiting=log.waiting_count(endpoint) if endpoint else 0,
                           confirm=ConfirmForm())


@bp.get("/settings/webhooks/")
@require(Permission.SETTINGS_MANAGE)
def index() -> Any:
    """List the endpoints with their state."""
    return render_template("webhooks/index.html", endpoints=endpoints.all_endpoints(), event_types=EVENT_TYPES)


@bp.get("/settings/webhooks/new")
@require(Permission.SETTINGS_MANAGE)
def new() -> Any:
    """Show an empty endpoint form."""
    return _edit_page(EndpointForm(), None, [])


@bp.post("/settings/webhooks/new")
@require(Permission.SETTINGS_MANAGE)
def create() -> Any:
    """Add an endpoint, then show its page with its secret."""
    form = EndpointForm()
    if form.validate_on_submit():
        with showing_refusal(form):
            added = endpoints.add_endpoint(_data(form))
            flash(_("Endpoint added. Copy its signing secret now; you can show it again on this page."), "success")
            return redirect(url_for("outgoing_webhooks.endpoint", endpoint_id=added.id, show="secret"))
    return _edit_page(form, None, request.form.getlist("event_types")), 400


@bp.get("/settings/webhooks/<int:endpoint_id>")
@require(Permission.SETTINGS_MANAGE)
def endpoint(endpoint_id: int) -> Any:
    """An endpoint's form, secret (when asked for), buttons and delivery log."""
    found = endpoints.get_endpoint(endpoint_id)
    before = request.args.get("before", type=int)
    return _edit_page(EndpointForm(obj=found), found, found.event_types,
                      secret_shown=request.args.get("show") == "secret", before=before)


@bp.post("/settings/webhooks/<int:endpoint_id>")
@require(Permission.SETTINGS_MANAGE)
def update(endpoint_id: int) -> Any:
    """Change an endpoint."""
    found = endpoints.get_endpoint(endpoint_id)
    form = EndpointForm()
    if form.validate_on_submit():
        with showing_refusal(form):
            endpoints.update_endpoint(found, _data(form), partial=False)
            flash(_("Changes to the endpoint saved."), "success")
            return redirect(url_for("outgoing_webhooks.endpoint", endpoint_id=found.id))
    found = endpoints.get_endpoint(endpoint_id)
    return _edit_page(form, found, request.form.getlist("event_types")), 400


def _confirmed() -> bool:
    return bool(ConfirmForm().validate_on_submit())


@bp.post("/settings/webhooks/<int:endpoint_id>/test")
@require(Permission.SETTINGS_MANAGE)
def send_test(endpoint_id: int) -> Any:
    """Queue a test event for the endpoint."""
    found = endpoints.get_endpoint(endpoint_id)
    if _confirmed():
        log.send_test(found)
        flash(_("A test event is on its way. Its request appears in the delivery log below."), "success")
    return redirect(url_for("outgoing_webhooks.endpoint", endpoint_id=found.id))


@bp.post("/settings/webhooks/<int:endpoint_id>/secret")
@require(Permission.SETTINGS_MANAGE)
def rotate(endpoint_id: int) -> Any:
    """Give the endpoint a new secret and show it."""
    found = endpoints.get_endpoint(endpoint_id)
    if not _confirmed():
        return redirect(url_for("outgoing_webhooks.endpoint", endpoint_id=found.id))
    endpoints.rotate_secret(found)
    flash(_("A new signing secret was made. Give it to the receiver: messages are signed with it from now on."),
          "success")
    return redirect(url_for("outgoing_webhooks.endpoint", endpoint_id=found.id, show="secret"))


@bp.post("/settings/webhooks/<int:endpoint_id>/attempts/<int:attempt_id>/replay")
@require(Permission.SETTINGS_MANAGE)
def replay(endpoint_id: int, attempt_id: int) -> Any:
    """Send a logged request's messages again."""
    found = endpoints.get_endpoint(endpoint_id)
    if _confirmed():
        with showing_refusal():
            count = log.replay(found, log.get_attempt(found, attempt_id))
            flash(_("%(n)d message(s) queued again.", n=count), "success")
    return redirect(url_for("outgoing_webhooks.endpoint", endpoint_id=found.id))


@bp.post("/settings/webhooks/<int:endpoint_id>/delete")
@require(Permission.SETTINGS_MANAGE)
def delete(endpoint_id: int) -> Any:
    """Delete an endpoint with its waiting messages and log."""
    found = endpoints.get_endpoint(endpoint_id)
    if _confirmed():
        endpoints.delete_endpoint(found)
        flash(_("Endpoint deleted."), "success")
    return redirect(url_for("outgoing_webhooks.index"))
