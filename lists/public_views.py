"""Public pages for subscribers: the subscription form, opt-in confirmation, unsubscribe, preferences.

They never show an error page to a subscriber: a bad link gets a page that says so and
offers what still works. One-click unsubscribe (RFC 8058) needs no cookie and no CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from core.auth import csrf_exempt, public
from core.errors import KairanError, ValidationError
from core.forms import ConfirmForm
from core.inputs import id_or_none, json_body
from core.tokens import Purpose, read_token
from core.web import limiter
from lists.models import ConsentMethod, SubscriptionStatus
from lists.public import (
    confirm,
    get_by_uuid,
    pending_optins,
    public_links,
    public_lists,
    public_subscribe,
    read_reader_token,
    unsubscribe,
    update_preferences,
)
from lists.subscribers import Consent

bp = Blueprint("public", __name__)
api_bp = Blueprint("public_api", __name__, url_prefix="/api/public")

SIGNUP_LIMIT = "20 per hour"  # per client address: people sign up once, bots many times
HONEYPOT = "website"  # a field people never see or fill; bots fill every field


def form_consent() -> Consent:
    """Record a public form's consent with its wording, address and browser."""
    wording = _("I agree to receive newsletters by email from %(company)s.", company=_company())
    return Consent(ConsentMethod.FORM, evidence=wording, ip=request.remote_addr, user_agent=request.user_agent.string)


def link_consent(evidence: str) -> Consent:
    """Record a change made through a signed link in our mail, with what the link was."""
    return Consent(ConsentMethod.EMAIL_LINK, evidence=evidence, ip=request.remote_addr,
                   user_agent=request.user_agent.string)


def _company() -> str:
    return str(current_app.config["KAIRAN"].company_name)


def _language() -> str:
    return str(get_locale() or "en")


@bp.route("/subscription/form", methods=["GET", "POST"])
@public
@csrf_exempt  # embeddable on any site; a honeypot, a rate limit and double opt-in guard it instead
@limiter.limit(SIGNUP_LIMIT, methods=["POST"])
def subscription_form() -> Any:
    """Show the hosted subscription form, and subscribe whoever sends it."""
    lists = public_lists()
    if request.method == "GET":
        return render_template("lists/public/form.html", lists=lists, values={}, error=None)
    email, name, chosen = request.form.get("email", ""), request.form.get("name", ""), request.form.getlist("l")
    values = {"email": email, "name": name, "l": chosen}
    if request.form.get(HONEYPOT):
        return render_template("lists/public/done.html", has_optin=True)  # a bot: say thanks, do nothing
    try:
        has_optin = public_subscribe(email, name, chosen, form_consent(), _language())
    except KairanError as exc:
        return render_template("lists/public/form.html", lists=lists, values=values, error=exc.message), 400
    return render_template("lists/public/done.html", has_optin=has_optin)


@bp.route("/subscription/optin/<subscriber_uuid>", methods=["GET", "POST"])
@public
def optin(subscriber_uuid: str) -> Any:
    """Show the lists to confirm (GET), and confirm them (POST with confirm=true), as listmonk does."""
    subscriber = get_by_uuid(subscriber_uuid)
    if subscriber is None or read_token(Purpose.OPTIN, request.values.get("t", "")) != subscriber_uuid:
        return render_template("lists/public/invalid.html"), 404
    lists = pending_optins(subscriber, request.values.getlist("l"))
    if request.method == "POST" and request.form.get("confirm") == "true" and ConfirmForm().validate_on_submit():
        confirm(subscriber, lists, link_consent(_("Opt-in confirmation link")))
        return render_template("lists/public/confirmed.html", lists=lists, links=public_links(subscriber))
    return render_template("lists/public/optin.html", subscriber=subscriber, lists=lists, token=request.values["t"],
                           form=ConfirmForm())


@bp.route("/u/<token>", methods=["GET", "POST"])
@public
@csrf_exempt  # RFC 8058 one-click: mail providers POST with no cookie; the signed token is the proof
def unsubscribe_page(token: str) -> Any:
    """GET shows a page and never unsubscribes; POST (the page's button or one-click) unsubscribes, 200."""
    subscriber_uuid, delivery_id = read_reader_token(Purpose.UNSUBSCRIBE, token)
    subscriber = get_by_uuid(subscriber_uuid)
    if subscriber is None:
        return render_template("lists/public/invalid.html"), 404
    if request.method == "POST":
        unsubscribe(subscriber, link_consent(_one_click_evidence()), delivery_id=delivery_id)
        return render_template("lists/public/unsubscribed.html", links=public_links(subscriber))
    subscribed = [s for s in subscriber.subscriptions if s.status != SubscriptionStatus.UNSUBSCRIBED]
    return render_template("lists/public/unsubscribe.html", subscriber=subscriber, subscriptions=subscribed,
                           token=token, links=public_links(subscriber))


def _one_click_evidence() -> str:
    if request.form.get("List-Unsubscribe") == "One-Click":
        return "List-Unsubscribe=One-Click (RFC 8058)"
    return _("Unsubscribe page")


@bp.route("/p/<token>", methods=["GET", "POST"])
@public
def preferences(token: str) -> Any:
    """Let a subscriber choose their lists and change their name."""
    subscriber_uuid, delivery_id = read_reader_token(Purpose.PREFERENCES, token)
    subscriber = get_by_uuid(subscriber_uuid)
    if subscriber is None:
        return render_template("lists/public/invalid.html"), 404
    form = ConfirmForm()
    saved = False
    if request.method == "POST" and form.validate_on_submit():
        wanted = [i for i in map(id_or_none, request.form.getlist("l")) if i is not None]
        update_preferences(subscriber, request.form.get("name", ""), wanted, link_consent(_("Preferences page")),
                           _language(), delivery_id=delivery_id)
        saved = True
    active = {s.list_id for s in subscriber.subscriptions if s.status != SubscriptionStatus.UNSUBSCRIBED}
    shown = {m.id: m for m in public_lists()}
    shown.update({s.list_id: s.mailing_list for s in subscriber.subscriptions if s.list_id in active})
    return render_template("lists/public/preferences.html", subscriber=subscriber, lists=sorted(
        shown.values(), key=lambda m: m.name), active=active, form=form, saved=saved, links=public_links(subscriber))


@api_bp.post("/subscription")
@public
@limiter.limit(SIGNUP_LIMIT)
def api_subscription() -> Any:
    """Subscribe someone to public lists, as listmonk's public API does.
    ---
    post:
      tags: [public]
      summary: Subscribe to public lists (no auth; rate-limited per address).
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [email, list_uuids]
              properties:
                email: {type: string}
                name: {type: string}
                list_uuids: {type: array, items: {type: string}}
      responses:
        200: {description: 'Subscribed: {"data": {"has_optin": bool}} (true when a confirmation mail was sent).'}
        400: {$ref: '#/components/responses/Error'}
        429: {$ref: '#/components/responses/RateLimited'}
    """
    body = json_body()
    uuids = body.get("list_uuids") or []
    if not isinstance(uuids, list):
        raise ValidationError(_("list_uuids must be a list."))
    has_optin = public_subscribe(str(body.get("email") or ""), str(body.get("name") or ""),
                                 [str(u) for u in uuids], form_consent(), _language())
    return jsonify(data={"has_optin": has_optin})


@api_bp.get("/lists")
@public
def api_lists() -> Any:
    """List the public lists (a bare array, as listmonk answers).
    ---
    get:
      tags: [public]
      summary: Public lists anyone may join.
      security: []
      responses:
        200: {description: '[{"uuid", "name"}] with no envelope.'}
    """
    return jsonify([{"uuid": m.uuid, "name": m.name} for m in public_lists()])
