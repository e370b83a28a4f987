"""Sending domains in the UI (admins) and Kairan's /api/domains: keys made here, DNS records to publish."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.api import json_body
from core.auth import Permission, require
from core.db import db
from core.errors import KairanError
from core.forms import ConfirmForm
from mailer.domains import add_domain, all_domains, check_dns, delete_domain, domain_as_dict, get_domain

bp = Blueprint("domains", __name__)


@bp.get("/settings/domains/")
@require(Permission.SETTINGS_MANAGE)
def index() -> Any:
    """List sending domains with the DNS records each needs."""
    return render_template("mailer/domains.html", domains=[domain_as_dict(d) for d in all_domains()],
                           form=ConfirmForm(), checks={})


@bp.post("/settings/domains/")
@require(Permission.SETTINGS_MANAGE)
def create() -> Any:
    """Add a sending domain (a new key is made for it)."""
    if ConfirmForm().validate_on_submit():
        try:
            added = add_domain(request.form.get("domain", ""))
            flash(_("%(domain)s added. Publish its DNS records, then check them.", domain=added.domain), "success")
        except KairanError as error:
            db.session.rollback()
            flash(error.message, "error")
    return redirect(url_for("domains.index"))


@bp.post("/settings/domains/<int:domain_id>/check")
@require(Permission.SETTINGS_MANAGE)
def check(domain_id: int) -> Any:
    """Look the domain's DKIM record up in DNS and say what was found."""
    if ConfirmForm().validate_on_submit():
        result = check_dns(get_domain(domain_id))
        flash(result["message"], "success" if result["ok"] else "error")
    return redirect(url_for("domains.index"))


@bp.post("/settings/domains/<int:domain_id>/delete")
@require(Permission.SETTINGS_MANAGE)
def delete(domain_id: int) -> Any:
    """Forget a sending domain and its key."""
    if ConfirmForm().validate_on_submit():
        delete_domain(get_domain(domain_id))
        flash(_("Sending domain deleted."), "success")
    return redirect(url_for("domains.index"))


api_bp = Blueprint("domains_api", __name__, url_prefix="/api/domains")


@api_bp.get("")
@require(Permission.SETTINGS_MANAGE)
def api_list() -> Any:
    """List sending domains.
    ---
    get:
      tags: [domains]
      summary: Sending domains with the DNS records to publish (Kairan's addition).
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


@api_bp.post("/<int:domain_id>/check")
@require(Permission.SETTINGS_MANAGE)
def api_check(domain_id: int) -> Any:
    """Check a domain's DKIM record in DNS.
    ---
    post:
      tags: [domains]
      summary: Look the DKIM record up (where DNS is reachable) and compare it with the key.
      parameters: [{in: path, name: domain_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: '{"data": {"ok": bool, "message": "…"}}'}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=check_dns(get_domain(domain_id)))


@api_bp.delete("/<int:domain_id>")
@require(Permission.SETTINGS_MANAGE)
def api_delete(domain_id: int) -> Any:
    """Delete a sending domain.
    ---
    delete:
      tags: [domains]
      summary: Forget a sending domain and its key.
      parameters: [{in: path, name: domain_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: 'Done: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
    """
    delete_domain(get_domain(domain_id))
    return jsonify(data=True)
