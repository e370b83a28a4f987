"""Public pages for subscribers: the subscription form, opt-in confirmation, unsubscribe, preferences.

They never show an error page to a subscriber: a bad link gets a page that says so and
offers what still works. One-click unsubscribe (RFC 8058) needs no cookie and no CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from core.api import user_from_authorization
from core.auth import Permission, csrf_exempt, has_permission, public
from core.browser_policy import embeddable
from core.errors import ValidationError
from core.forms import ConfirmForm
from core.inputs import id_or_none, json_body
from core.refusals import showing_refusal
from core.tokens import Purpose, is_test_token, read_token
from core.web import limiter
from lists.consent_evidence import coded
from lists.models import ConsentMethod, SubscriptionStatus
from lists.paths import OPTIN, PREFERENCES, SUBSCRIPTION_FORM, UNSUBSCRIBE
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


def test_link_page(purpose: Purpose) -> Any:
    """Answer a link of a test message (or a preview), GET or one-click POST alike: say so, and change nothing.

    A colleague who presses the unsubscribe button on a test rendered as a real subscriber must not
    unsubscribe that subscriber in their name.
    """
    return render_template("lists/public/test_link.html", purpose=purpose.value)


@bp.route(SUBSCRIPTION_FORM.rule, methods=["GET", "POST"])
@public
@embeddable  # the form may be shown in a frame on the company's own site
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
    with showing_refusal(flash_it=False) as attempt:  # a reader's page: the form says why, above what they typed
        has_optin = public_subscribe(email, name, chosen, form_consent(), _language())
        return render_template("lists/public/done.html", has_optin=has_optin)
    return render_template("lists/public/form.html", lists=lists, values=values, error=attempt.message), 400


@bp.route(OPTIN.rule, methods=["GET", "POST"])
@public
@csrf_exempt  # a reader's POST carries ConfirmForm's CSRF token, checked below; an API client its credentials
def optin(subscriber_uuid: str) -> Any:
    """Show the lists to confirm (GET), and confirm them (POST with confirm=true), as listmonk does.

    Readers come with the signed token of their confirmation mail. listmonk clients confirm on a
    subscriber's behalf with API credentials instead (listmonk's own link carries no token).
    """
    if request.method == "POST" and "Authorization" in request.headers:
        return _optin_by_api_user(subscriber_uuid)
    if is_test_token(Purpose.OPTIN, request.values.get("t", "")):
        return test_link_page(Purpose.OPTIN)
    subscriber = get_by_uuid(subscriber_uuid)
    if subscriber is None or read_token(Purpose.OPTIN, request.values.get("t", "")) != subscriber_uuid:
        return render_template("lists/public/invalid.html"), 404
    lists = pending_optins(subscriber, request.values.getlist("l"))
    if request.method == "POST" and request.form.get("confirm") == "true" and ConfirmForm().validate_on_submit():
        confirm(subscriber, lists, link_consent(coded("optin_link")))
        return render_template("lists/public/confirmed.html", lists=lists, links=public_links(subscriber))
    return render_template("lists/public/optin.html", subscriber=subscriber, lists=lists, token=request.values["t"],
                           form=ConfirmForm())


def _optin_by_api_user(subscriber_uuid: str) -> Any:
    """Confirm a subscriber's pending lists (``l``: list uuids, all of them when none) for an API user.

    The answer is listmonk's: the confirmation page; errors are the API's JSON, as the caller is one.
    """
    user = user_from_authorization(request.headers["Authorization"])
    if user is None:
        return jsonify(message=_("invalid API credentials")), 403
    if not has_permission(user.role, Permission.SUBSCRIBERS_WRITE):
        return jsonify(message=_("You do not have permission to do this.")), 403
    subscriber = get_by_uuid(subscriber_uuid)
    if subscriber is None:
        return jsonify(message=_("Subscriber not found.")), 400
    if request.form.get("confirm") != "true":
        return jsonify(message=_("Send confirm=true to confirm the subscription.")), 400
    lists = pending_optins(subscriber, request.form.getlist("l"))
    confirm(subscriber, lists, Consent(ConsentMethod.API, evidence=f"API user {user.username}",
                                       ip=request.remote_addr, user_agent=request.user_agent.string))
    return render_template("lists/public/confirmed.html", lists=lists, links=public_links(subscriber))


@bp.route(UNSUBSCRIBE.rule, methods=["GET", "POST"])
@public
@csrf_exempt  # RFC 8058 one-click: mail providers POST with no cookie; the signed token is the proof
def unsubscribe_page(token: str) -> Any:
    """GET shows a page and never unsubscribes; POST (the page's button or one-click) unsubscribes, 200."""
    if is_test_token(Purpose.UNSUBSCRIBE, token):
        return test_link_page(Purpose.UNSUBSCRIBE)
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
        return coded("one_click")
    return coded("unsubscribe_page")


@bp.route(PREFERENCES.rule, methods=["GET", "POST"])
@public
def preferences(token: str) -> Any:
    """Let a subscriber choose their lists and change their name."""
    if is_test_token(Purpose.PREFERENCES, token):
        return test_link_page(Purpose.PREFERENCES)
    subscriber_uuid, delivery_id = read_reader_token(Purpose.PREFERENCES, token)
    subscriber = get_by_uuid(subscriber_uuid)
    if subscriber is None:
        return render_template("lists/public/invalid.html"), 404
    form = ConfirmForm()
    saved, error, name = False, None, subscriber.name
    if request.method == "POST" and form.validate_on_submit():
        wanted = [i for i in map(id_or_none, request.form.getlist("l")) if i is not None]
        with showing_refusal(flash_it=False) as attempt:  # nothing was changed: the page shows why, as typed
            update_preferences(subscriber, request.form.get("name", ""), wanted,
                               link_consent(coded("preferences_page")), _language(), delivery_id=delivery_id)
            saved, name = True, subscriber.name
        if attempt.refused:
            error, name = attempt.message, request.form.get("name", "")
    active = {s.list_id for s in subscriber.subscriptions if s.status != SubscriptionStatus.UNSUBSCRIBED}
    shown = {m.id: m for m in public_lists()}
    shown.update({s.list_id: s.mailing_list for s in subscriber.subscriptions if s.list_id in active})
    if error:
        active = set(wanted)  # the ticks as sent
    page = render_template("lists/public/preferences.html", subscriber=subscriber, name=name, error=error,
                           lists=sorted(shown.values(), key=lambda m: m.name), active=active, form=form, saved=saved,
                           links=public_links(subscriber))
    return (page, 400) if error else page


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
