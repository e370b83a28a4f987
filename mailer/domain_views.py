"""Sending domains in the UI (admins) and Kairan's /api/domains: keys made and rotated here, DNS records to publish."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.auth import Permission, require
from core.forms import ConfirmForm
from core.inputs import flag, json_body
from core.refusals import showing_refusal
from mailer import domains
from mailer.domains import add_domain, all_domains, check_dns, delete_domain, domain_as_dict, get_domain, get_key

bp = Blueprint("domains", __name__)


def _page(checks: dict[int, dict[tuple[str, str], dict[str, Any]]] | None = None, typed: str = "") -> str:
    return render_template("mailer/domains.html", domains=[domain_as_dict(d) for d in all_domains()],
                           form=ConfirmForm(), checks=checks or {}, typed=typed)


def _act(action: Callable[[], str]) -> Any:
    """Run a button's action and flash what it says, or the refusal that stopped it; back to the list."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            flash(action(), "success")
    return redirect(url_for("domains.index"))


@bp.get("/settings/domains/")
@require(Permission.SETTINGS_MANAGE)
def index() -> Any:
    """List sending domains with the DNS records each needs."""
    return _page()


@bp.post("/settings/domains/")
@require(Permission.SETTINGS_MANAGE)
def create() -> Any:
    """Add a sending domain (a new key is made for it); a refused name is shown again in the form."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            added = add_domain(request.form.get("domain", ""))
            flash(_("%(domain)s added. Publish its DNS records, then check them.", domain=added.domain), "success")
            return redirect(url_for("domains.index"))
        return _page(typed=request.form.get("domain", "")), 400
    return redirect(url_for("domains.index"))


@bp.post("/settings/domains/<int:domain_id>/check")
@require(Permission.SETTINGS_MANAGE)
def check(domain_id: int) -> Any:
    """Look the domain's records up in DNS and show what was found beside each."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("domains.index"))
    result = check_dns(get_domain(domain_id))
    flash(result["message"], "success" if result["ok"] else "error")
    return _page({domain_id: {(r["type"], r["name"]): r for r in result["records"]}})


@bp.post("/settings/domains/<int:domain_id>/ed25519")
@require(Permission.SETTINGS_MANAGE)
def ed25519(domain_id: int) -> Any:
    """Turn the Ed25519 second signature on or off."""
    def switch() -> str:
        key = domains.set_ed25519(get_domain(domain_id), request.form.get("enabled") == "1")
        if key is None:
            return _("Ed25519 is off; its key is retired and stays listed until you remove it.")
        return _("Ed25519 is on with the key %(selector)s. Publish its record.", selector=key.selector)
    return _act(switch)


@bp.post("/settings/domains/<int:domain_id>/rotate")
@require(Permission.SETTINGS_MANAGE)
def rotate_key(domain_id: int) -> Any:
    """Make a new RSA key that waits for its DNS record."""
    def new() -> str:
        key = domains.rotate(get_domain(domain_id))
        return _("New key %(selector)s made. Publish its record, then activate it.", selector=key.selector)
    return _act(new)


@bp.post("/settings/domains/<int:domain_id>/keys/<int:key_id>/activate")
@require(Permission.SETTINGS_MANAGE)
def activate_key(domain_id: int, key_id: int) -> Any:
    """Sign with a pending key from now on (after its DNS check, or forced)."""
    def switch() -> str:
        sending = get_domain(domain_id)
        key = get_key(sending, key_id)
        domains.activate(sending, key, force=request.form.get("force") == "1")
        return _("%(selector)s signs mail now. The previous key is retired.", selector=key.selector)
    return _act(switch)


@bp.post("/settings/domains/<int:domain_id>/keys/<int:key_id>/delete")
@require(Permission.SETTINGS_MANAGE)
def delete_key(domain_id: int, key_id: int) -> Any:
    """Forget a retired or pending key."""
    def remove() -> str:
        sending = get_domain(domain_id)
        key = get_key(sending, key_id)
        domains.remove_key(sending, key)
        return _("Key %(selector)s removed. Remove its record at your DNS provider too.", selector=key.selector)
    return _act(remove)


@bp.post("/settings/domains/<int:domain_id>/delete")
@require(Permission.SETTINGS_MANAGE)
def delete(domain_id: int) -> Any:
    """Forget a sending domain and its keys."""
    def remove() -> str:
        delete_domain(get_domain(domain_id))
        return _("Sending domain deleted.")
    return _act(remove)


api_bp = Blueprint("domains_api", __name__, url_prefix="/api/domains")


@api_bp.get("")
@require(Permission.SETTINGS_MANAGE)
def api_list() -> Any:
    """List sending domains.
    ---
    get:
      tags: [domains]
      summary: Sending domains with their DKIM keys and the DNS records to publish (Kairan's addition).
      responses:
        200: {description: The domains.}
    """
    return jsonify(data=[domain_as_dict(d) for d in all_domains()])


@api_bp.post("")
@require(Permission.SETTINGS_MANAGE)
def api_create() -> Any:
    """Add a sending domain.
    ---
    post:
      tags: [domains]
      summary: 'Add a domain ({"domain": "news.example.jp"}); Kairan makes its RSA-2048 DKIM key.'
      responses:
        200: {description: The domain and its DNS records.}
        400: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=domain_as_dict(add_domain(str(json_body().get("domain") or ""))))


@api_bp.get("/<int:domain_id>")
@require(Permission.SETTINGS_MANAGE)
def api_get(domain_id: int) -> Any:
    """One sending domain.
    ---
    get:
      tags: [domains]
      summary: A domain with its keys (selector, algorithm, state) and DNS records.
      parameters: [{in: path, name: domain_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The domain.}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=domain_as_dict(get_domain(domain_id)))


@api_bp.post("/<int:domain_id>/check")
@require(Permission.SETTINGS_MANAGE)
def api_check(domain_id: int) -> Any:
    """Check a domain's records in DNS.
    ---
    post:
      tags: [domains]
      summary: Look up the DKIM records of the keys that sign or wait, and the bounce MX (where DNS is reachable).
      parameters: [{in: path, name: domain_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: '{"data": {"ok": bool, "message": "…", "records": [{"type", "name", "ok", "message"}]}}'}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=check_dns(get_domain(domain_id)))


@api_bp.put("/<int:domain_id>/ed25519")
@require(Permission.SETTINGS_MANAGE)
def api_ed25519(domain_id: int) -> Any:
    """Turn the Ed25519 signature on or off.
    ---
    put:
      tags: [domains]
      summary: '{"enabled": true} makes an Ed25519 key that signs beside RSA (RFC 8463); false retires it.'
      parameters: [{in: path, name: domain_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The domain with its keys and records.}
        400: {$ref: '#/components/responses/Error'}
    """
    sending = get_domain(domain_id)
    domains.set_ed25519(sending, flag(json_body().get("enabled"), "enabled"))
    return jsonify(data=domain_as_dict(sending))


@api_bp.post("/<int:domain_id>/rotate")
@require(Permission.SETTINGS_MANAGE)
def api_rotate(domain_id: int) -> Any:
    """Start a key rotation.
    ---
    post:
      tags: [domains]
      summary: Make a pending RSA key under the next selector; the current key signs until it is activated.
      parameters: [{in: path, name: domain_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: The domain with its keys and records.}
        400: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    sending = get_domain(domain_id)
    domains.rotate(sending)
    return jsonify(data=domain_as_dict(sending))


@api_bp.post("/<int:domain_id>/keys/<int:key_id>/activate")
@require(Permission.SETTINGS_MANAGE)
def api_activate(domain_id: int, key_id: int) -> Any:
    """Activate a pending key.
    ---
    post:
      tags: [domains]
      summary: 'Sign with a pending key once DNS shows its record ({"force": true} skips that); the old key retires.'
      parameters:
        - {in: path, name: domain_id, required: true, schema: {type: integer}}
        - {in: path, name: key_id, required: true, schema: {type: integer}}
      responses:
        200: {description: The domain with its keys and records.}
        400: {$ref: '#/components/responses/Error'}
    """
    sending = get_domain(domain_id)
    force = flag((json_body() if request.content_length else {}).get("force"), "force", default=False)
    domains.activate(sending, get_key(sending, key_id), force=force)
    return jsonify(data=domain_as_dict(sending))


@api_bp.delete("/<int:domain_id>/keys/<int:key_id>")
@require(Permission.SETTINGS_MANAGE)
def api_delete_key(domain_id: int, key_id: int) -> Any:
    """Remove a retired or pending key.
    ---
    delete:
      tags: [domains]
      summary: Forget a key that no longer signs (or never did); a key that signs is refused.
      parameters:
        - {in: path, name: domain_id, required: true, schema: {type: integer}}
        - {in: path, name: key_id, required: true, schema: {type: integer}}
      responses:
        200: {description: The domain with its keys and records.}
        400: {$ref: '#/components/responses/Error'}
    """
    sending = get_domain(domain_id)
    domains.remove_key(sending, get_key(sending, key_id))
    return jsonify(data=domain_as_dict(sending))


@api_bp.delete("/<int:domain_id>")
@require(Permission.SETTINGS_MANAGE)
def api_delete(domain_id: int) -> Any:
    """Delete a sending domain.
    ---
    delete:
      tags: [domains]
      summary: Forget a sending domain and its keys.
      parameters: [{in: path, name: domain_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: 'Done: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
    """
    delete_domain(get_domain(domain_id))
    return jsonify(data=True)
