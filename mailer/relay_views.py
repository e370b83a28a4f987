"""SMTP relays in the UI (admins) and Kairan's /api/relays: add, change, delete, test the connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField

from core.auth import Permission, require
from core.checklist import mark_done
from core.forms import ConfirmForm
from core.inputs import json_body
from core.refusals import showing_refusal
from mailer import checklist, relays
from mailer.models import SMTPRelayConfig

bp = Blueprint("relays", __name__)

RELAY_INPUT = {
    "type": "object",
    "description": "Fields left out of a PUT keep their value; an empty or missing password keeps the stored one, "
                   "and an empty username removes both. The password is never returned.",
    "properties": {
        "name": {"type": "string", "maxLength": 100, "description": "Defaults to the host."},
        "host": {"type": "string", "maxLength": 253},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 25},
        "security": {"type": "string", "enum": ["none", "starttls", "tls"], "default": "none"},
        "username": {"type": "string", "maxLength": 200},
        "password": {"type": "string", "writeOnly": True},
        "max_connections": {"type": "integer", "minimum": 1, "maximum": 100, "default": 4,
                            "description": "Per worker process."},
        "weight": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1,
                   "description": "Share of the mail, relative to the other enabled relays."},
        "rate_per_second": {"type": "integer", "minimum": 1, "nullable": True,
                            "description": "The relay's own limit; null for none."},
        "enabled": {"type": "boolean", "default": True},
    },
    "required": ["host"],
}


def security_choices() -> list[tuple[str, str]]:
    """Return the connection kinds with the port each usually goes with."""
    return [("starttls", str(_l("STARTTLS (usually port 587)"))), ("tls", str(_l("TLS (SMTPS, usually port 465)"))),
            ("none", str(_l("None (port 25 or a local relay)")))]


class RelayForm(FlaskForm):
    """A relay's settings; the service checks the values, so the form only collects them."""

    name = StringField(_l("Name"), render_kw={"placeholder": "SES Tokyo"})
    host = StringField(_l("Host"), render_kw={"placeholder": "smtp.example.jp"})
    port = StringField(_l("Port"), default="587", render_kw={"inputmode": "numeric"})
    security = SelectField(_l("Security"), choices=security_choices, default="starttls")
    username = StringField(_l("User name"), render_kw={"autocomplete": "off"})
    password = PasswordField(_l("Password"), render_kw={"autocomplete": "new-password"})
    max_connections = StringField(_l("Connections per worker (at most)"), default="4",
                                  render_kw={"inputmode": "numeric"})
    weight = StringField(_l("Weight (share of the mail)"), default="1", render_kw={"inputmode": "numeric"})
    rate_per_second = StringField(_l("Messages per second (empty: no limit)"), render_kw={"inputmode": "numeric"})
    enabled = BooleanField(_l("Enabled"), default=True)


def _form_data(form: RelayForm) -> dict[str, Any]:
    return {name: getattr(form, name).data for name in relays.FIELDS}


def _saved(form: RelayForm,
           save: Callable[[dict[str, Any], dict[str, str]], SMTPRelayConfig]) -> SMTPRelayConfig | None:
    """Save through the service, which names the fields by their labels; each refused field gets its message
    under the input."""
    with showing_refusal(form):
        return save(_form_data(form), {name: getattr(form, name).label.text for name in relays.FIELDS})
    return None


@bp.get("/settings/relays/")
@require(Permission.SETTINGS_MANAGE)
def index() -> Any:
    """List the relays with their health, or say which relay carries the mail while none is set."""
    configs = relays.all_relays()
    default = None if any(c.enabled for c in configs) else relays.Relay.from_url(
        current_app.config["KAIRAN"].smtp_url)
    return render_template("mailer/relays.html", relays=configs, out_until=relays.out_until_by_id(configs),
                           default=default, embedded=current_app.config["KAIRAN"].embedded_smtp,
                           form=ConfirmForm())


def _edit_page(form: RelayForm, config: SMTPRelayConfig | None = None) -> Any:
    return render_template("mailer/relay_edit.html", form=form, relay=config)


@bp.get("/settings/relays/new")
@require(Permission.SETTINGS_MANAGE)
def new() -> Any:
    """Show an empty relay form."""
    return _edit_page(RelayForm())


@bp.post("/settings/relays/new")
@require(Permission.SETTINGS_MANAGE)
def create() -> Any:
    """Add a relay."""
    form = RelayForm()
    if form.validate_on_submit() and (added := _saved(form, relays.add_relay)):
        flash(_("Relay %(name)s added. Test its connection before it carries mail.", name=added.name), "success")
        return redirect(url_for("relays.index"))
    return _edit_page(form), 400


@bp.get("/settings/relays/<int:relay_id>")
@require(Permission.SETTINGS_MANAGE)
def edit(relay_id: int) -> Any:
    """Show a relay's form (the password field stays empty: it is never shown back)."""
    config = relays.get_relay(relay_id)
    form = RelayForm(obj=config)
    form.security.data = config.security.value
    form.rate_per_second.data = "" if config.rate_per_second is None else str(config.rate_per_second)
    return _edit_page(form, config)


@bp.post("/settings/relays/<int:relay_id>")
@require(Permission.SETTINGS_MANAGE)
def update(relay_id: int) -> Any:
    """Change a relay."""
    config = relays.get_relay(relay_id)
    form = RelayForm()
    if form.validate_on_submit() and _saved(form, lambda data, names: relays.update_relay(config, data, names)):
        flash(_("Changes to relay %(name)s saved.", name=config.name), "success")
        return redirect(url_for("relays.index"))
    return _edit_page(form, config), 400


def _flash_test(result: relays.ConnectionTest) -> Any:
    flash(result.message, "success" if result.ok else "error")
    return redirect(url_for("relays.index"))


@bp.post("/settings/relays/<int:relay_id>/test")
@require(Permission.SETTINGS_MANAGE)
def test(relay_id: int) -> Any:
    """Connect to a relay as the send would, and say what happened."""
    config = relays.get_relay(relay_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("relays.index"))
    return _flash_test(relays.test_saved(config))


@bp.post("/settings/relays/default/test")
@require(Permission.SETTINGS_MANAGE)
def test_default() -> Any:
    """Test the KAIRAN_SMTP_URL relay (the capture server by default)."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("relays.index"))
    settings = current_app.config["KAIRAN"]
    result = relays.test_connection(relays.Relay.from_url(settings.smtp_url))
    if result.ok and not settings.embedded_smtp:  # the capture server is no relay: mail would reach nobody
        mark_done(checklist.RELAY)
    return _flash_test(result)


@bp.post("/settings/relays/<int:relay_id>/delete")
@require(Permission.SETTINGS_MANAGE)
def delete(relay_id: int) -> Any:
    """Delete a relay."""
    config = relays.get_relay(relay_id)
    if ConfirmForm().validate_on_submit():
        relays.delete_relay(config)
        flash(_("Relay %(name)s deleted.", name=config.name), "success")
    return redirect(url_for("relays.index"))


api_bp = Blueprint("relays_api", __name__, url_prefix="/api/relays")


def _as_dict(config: SMTPRelayConfig) -> dict[str, Any]:
    return relays.relay_as_dict(config, relays.out_until_by_id([config]).get(config.id))


@api_bp.get("")
@require(Permission.SETTINGS_MANAGE)
def api_list() -> Any:
    """List SMTP relays.
    ---
    get:
      tags: [relays]
      summary: SMTP relays with their health (Kairan's addition); passwords are never returned.
      responses:
        200: {description: 'The relays; taken_out_until is set while one is out after repeated failures.'}
    """
    configs = relays.all_relays()
    out = relays.out_until_by_id(configs)
    return jsonify(data=[relays.relay_as_dict(c, out.get(c.id)) for c in configs])


@api_bp.post("")
@require(Permission.SETTINGS_MANAGE)
def api_create() -> Any:
    """Add an SMTP relay.
    ---
    post:
      tags: [relays]
      summary: Add a relay; with one enabled, KAIRAN_SMTP_URL no longer carries campaign mail.
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/RelayInput'}
      responses:
        200: {description: The relay.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=_as_dict(relays.add_relay(json_body())))


@api_bp.get("/<int:relay_id>")
@require(Permission.SETTINGS_MANAGE)
def api_get(relay_id: int) -> Any:
    """Get an SMTP relay.
    ---
    get:
      tags: [relays]
      summary: One relay with its health.
      parameters: [{in: path, name: relay_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The relay.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=_as_dict(relays.get_relay(relay_id)))


@api_bp.put("/<int:relay_id>")
@require(Permission.SETTINGS_MANAGE)
def api_update(relay_id: int) -> Any:
    """Change an SMTP relay.
    ---
    put:
      tags: [relays]
      summary: Change the given fields; the relay's failure count starts afresh.
      parameters: [{in: path, name: relay_id, required: true, schema: {type: integer}}]
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/RelayInput'}
      responses:
        200: {description: The relay.}
        400: {$ref: '#/components/responses/Error'}
    """
    config = relays.get_relay(relay_id)
    return jsonify(data=_as_dict(relays.update_relay(config, json_body())))


@api_bp.delete("/<int:relay_id>")
@require(Permission.SETTINGS_MANAGE)
def api_delete(relay_id: int) -> Any:
    """Delete an SMTP relay.
    ---
    delete:
      tags: [relays]
      summary: Delete a relay.
      parameters: [{in: path, name: relay_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: 'Done: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
    """
    relays.delete_relay(relays.get_relay(relay_id))
    return jsonify(data=True)


@api_bp.post("/<int:relay_id>/test")
@require(Permission.SETTINGS_MANAGE)
def api_test(relay_id: int) -> Any:
    """Test an SMTP relay's connection.
    ---
    post:
      tags: [relays]
      summary: Connect, EHLO, STARTTLS and AUTH as configured, NOOP, within a few seconds.
      parameters: [{in: path, name: relay_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: '{"data": {"ok": bool, "message": "what happened, in the caller''s language"}}'}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=relays.test_saved(relays.get_relay(relay_id)).as_dict())
