"""listmonk's campaigns API, as far as composing and moving them goes (their figures are tracking's)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from core.api import paginate
from core.auth import Permission, require
from core.db import db
from core.inputs import ID_MAX, body_fields, flag_arg, id_args, json_body, whole_number
from core.validation import choice
from lists.errors import SubscriberNotFoundError
from lists.models import Subscriber
from mailer import ab
from mailer.ab import save_campaign_and_test
from mailer.campaigns import delete_campaign, get_campaign
from mailer.compiler import convert
from mailer.errors import ABTestError
from mailer.jobs import queue_test_send
from mailer.models import Campaign, CampaignStatus, ContentType, WinnerMeasure
from mailer.overview import campaign_dicts, campaigns_query, running_stats
from mailer.previews import preview
from mailer.scheduling import queue_start
from mailer.sending import audience_size, change_status
from mailer.starting import send_winner
from mailer.views import preview_response

bp = Blueprint("campaign_api", __name__, url_prefix="/api")


@bp.get("/campaigns")
@require(Permission.CAMPAIGNS_READ)
def get_campaigns() -> Any:
    """List campaigns.
    ---
    get:
      tags: [campaigns]
      summary: Campaigns, filtered, ordered and paged as listmonk pages them (newest first by default).
      description: views, clicks and bounces are the campaign's unique opens and clicks by people and its
        bounced deliveries, as GET /api/campaigns/{id}/metrics defines them.
      parameters:
        - {in: query, name: query, schema: {type: string}, description: Text the name or subject contains.}
        - {in: query, name: status, schema: {type: array, items: {type: string, enum: [draft, scheduled, running,
           paused, cancelled, finished]}}, description: Any of these statuses (repeat the parameter).}
        - {in: query, name: tags, schema: {type: array, items: {type: string}}, description: All of these tags.}
        - {in: query, name: order_by, schema: {type: string, enum: [name, status, created_at, updated_at],
           default: created_at}}
        - order  # listmonk's, in core.api
        - {in: query, name: no_body, schema: {type: boolean}, description: Leave the bodies out.}
        - page  # listmonk's, in core.api
        - per_page  # listmonk's, in core.api
      responses:
        200:
          description: A page of campaigns.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    allOf:
                      - {$ref: '#/components/schemas/Page'}
                      - {properties: {results: {type: array, items: {$ref: '#/components/schemas/Campaign'}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    stmt = campaigns_query(query=request.args.get("query", ""), statuses=request.args.getlist("status"),
                           tags=request.args.getlist("tags"), order_by=request.args.get("order_by") or "created_at",
                           order=request.args.get("order") or "desc")
    no_body = flag_arg("no_body")
    return jsonify(data=paginate(stmt, lambda rows: campaign_dicts(rows, no_body=no_body)))


@bp.get("/campaigns/running/stats")
@require(Permission.CAMPAIGNS_READ)
def get_running_stats() -> Any:
    """Report sending progress.
    ---
    get:
      tags: [campaigns]
      summary: Progress and send rate of the campaigns named by campaign_id (repeatable), or of every running one.
      parameters:
        - {in: query, name: campaign_id, schema: {type: array, items: {type: integer}}}
      responses:
        200:
          description: One entry per campaign.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data: {type: array, items: {$ref: '#/components/schemas/CampaignStats'}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=running_stats(id_args("campaign_id")))


@bp.get("/campaigns/<int:campaign_id>")
@require(Permission.CAMPAIGNS_READ)
def get_one_campaign(campaign_id: int) -> Any:
    """Return a campaign.
    ---
    get:
      tags: [campaigns]
      summary: One campaign.
      parameters:
        - {in: path, name: campaign_id, required: true, schema: {type: integer}}
        - {in: query, name: no_body, schema: {type: boolean}, description: Leave the body out.}
      responses:
        200:
          description: The campaign.
          content: {application/json: {schema: {type: object, properties: {
                    data: {$ref: '#/components/schemas/Campaign'}}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    campaign = get_campaign(campaign_id)
    return jsonify(data=_one(campaign, no_body=flag_arg("no_body")))


@bp.post("/campaigns")
@require(Permission.CAMPAIGNS_WRITE)
def post_campaign() -> Any:
    """Create a draft campaign.
    ---
    post:
      tags: [campaigns]
      summary: Create a draft; subject and body are checked as templates (errors name their line).
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/CampaignInput'}}}
      responses:
        200: {description: "The campaign, with `warnings` about unknown variables."}
        400: {$ref: '#/components/responses/Error'}
    """
    campaign, warnings = save_campaign_and_test(None, json_body())
    return jsonify(data=_one(campaign, warnings))


@bp.put("/campaigns/<int:campaign_id>")
@require(Permission.CAMPAIGNS_WRITE)
def put_campaign(campaign_id: int) -> Any:
    """Change a draft campaign.
    ---
    put:
      tags: [campaigns]
      summary: Change a draft, scheduled or paused campaign's fields (those left out keep their value).
      description: >
        An automation's message (kind automation) can also be changed while it is running, that is while its
        automation is active: the change applies to the messages sent from then on.
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/CampaignInput'}}}
      responses:
        200: {description: The campaign.}
        400: {$ref: '#/components/responses/Error'}
    """
    campaign, warnings = save_campaign_and_test(get_campaign(campaign_id), json_body())
    queue_start(campaign)  # a scheduled campaign's new send_at moves its start
    return jsonify(data=_one(campaign, warnings))


@bp.delete("/campaigns/<int:campaign_id>")
@require(Permission.CAMPAIGNS_WRITE)
def delete_one_campaign(campaign_id: int) -> Any:
    """Delete a campaign with its deliveries and links.
    ---
    delete:
      tags: [campaigns]
      summary: Delete a campaign that is not running (pause or cancel it first); its deliveries go with it.
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: '`{"data": true}`'}
        400: {$ref: '#/components/responses/Error'}
    """
    delete_campaign(get_campaign(campaign_id))
    return jsonify(data=True)


@bp.put("/campaigns/<int:campaign_id>/status")
@require(Permission.CAMPAIGNS_SEND)
def put_campaign_status(campaign_id: int) -> Any:
    """Start, schedule, unschedule, pause, resume or cancel a campaign.
    ---
    put:
      tags: [campaigns]
      summary: Move a campaign as listmonk allows.
      description: "running: a draft starts now, a paused campaign resumes. scheduled: a draft or paused campaign
        starts at its send_at, which must be in the future (set it with PUT /api/campaigns/{id}). draft: a scheduled
        campaign is unscheduled. paused: a running one. cancelled: a running or paused one."
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content: {application/json: {schema: {type: object, required: [status],
                  properties: {status: {type: string, enum: [running, scheduled, draft, paused, cancelled]}}}}}
      responses:
        200:
          description: The campaign with its delivery counts.
          content: {application/json: {schema: {type: object, properties: {
                    data: {$ref: '#/components/schemas/Campaign'}}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    campaign = get_campaign(campaign_id)
    change_status(campaign, str(json_body().get("status") or ""))
    return jsonify(data=_one(campaign))


@bp.post("/campaigns/<int:campaign_id>/ab/winner")
@require(Permission.CAMPAIGNS_SEND)
def post_ab_winner(campaign_id: int) -> Any:
    """Choose an A/B test's winner by hand.
    ---
    post:
      tags: [campaigns]
      summary: Choose the winner of the campaign's A/B test (before or after its wait) and send it to the rest.
      description: The rest of the audience, held during the test phase, is materialised with the winner and
        queued (when the campaign is paused, when it resumes). Once chosen, by hand or automatically, the winner
        stands; a test of share 100 (a plain split) has no winner.
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      requestBody:
        required: true
        content: {application/json: {schema: {type: object, required: [variant], properties: {
                  variant: {type: string, enum: [A, B, C, D, E], description: The winning variant's letter.}}}}}
      responses:
        200:
          description: The campaign, and how many more recipients get the winner.
          content: {application/json: {schema: {type: object, properties: {data: {allOf: [
                    {$ref: '#/components/schemas/Campaign'}, {properties: {added: {type: integer}}}]}}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    campaign = get_campaign(campaign_id)
    position = _variant(json_body().get("variant"))
    if not position:
        raise ABTestError(_("variant must be a variant's letter, A to E."), field="variant")
    added = send_winner(campaign, position, str(current_user.username))
    return jsonify(data={**_one(campaign), "added": added})


def _variant(raw: Any) -> int:
    """An A/B variant named by its letter (A: 1), 0 when none is named; refuse what is not a letter A to E."""
    letter = str(raw or "").strip().upper()
    if letter and (len(letter) != 1 or letter not in ab.LABELS):
        raise ABTestError(_("variant must be a variant's letter, A to E."), field="variant")
    return ab.LABELS.index(letter) + 1 if letter else 0


def _one(campaign: Campaign, warnings: list[str] | None = None, *, no_body: bool = False) -> dict[str, Any]:
    """One campaign as the API answers it; before it is sent, an A/B test's warning about a small audience."""
    row = campaign_dicts([campaign], no_body=no_body)[0]
    test = ab.test_of(campaign)
    if test is not None and campaign.started_at is None:
        row["ab_test"] = ab.test_as_dict(campaign, test, audience=audience_size(campaign))
        if row["ab_test"]["warning"] and warnings is not None:
            warnings = [*warnings, row["ab_test"]["warning"]]
    return row if warnings is None else {**row, "warnings": warnings}


@bp.route("/campaigns/<int:campaign_id>/preview", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS_READ)
def preview_campaign(campaign_id: int) -> Any:
    """Preview a campaign's HTML.
    ---
    get:
      tags: [campaigns]
      summary: The campaign rendered in its layout for a sample reader or `subscriber_id`; nothing is counted.
      parameters:
        - {in: path, name: campaign_id, required: true, schema: {type: integer}}
        - {in: query, name: subscriber_id, schema: {type: integer}}
      responses:
        200: {description: The HTML., content: {text/html: {schema: {type: string}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    campaign = get_campaign(campaign_id)
    data = body_fields() if request.method == "POST" else {}
    if data.get("body") is not None:  # listmonk previews an unsaved body posted with the request
        _layout = campaign.template  # loaded now: a detached campaign cannot load it later
        db.session.expunge(campaign)
        campaign.body = str(data["body"])
        campaign.content_type = choice(ContentType, data.get("content_type"), "content_type", campaign.content_type)
    return preview_response(preview(campaign, _subscriber(request.values.get("subscriber_id"))).html)


@bp.post("/campaigns/<int:campaign_id>/content")
@require(Permission.CAMPAIGNS_READ)
def campaign_content(campaign_id: int) -> Any:
    """Convert a body between formats.
    ---
    post:
      tags: [campaigns]
      summary: Convert `body` from `from` to `to` (html, richtext, visual, markdown, plain), Jinja kept.
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: 'The converted body: {"data": "…"}'}
        400: {$ref: '#/components/responses/Error'}
    """
    get_campaign(campaign_id)
    data = json_body()
    source = choice(ContentType, data.get("from") or data.get("content_type"), "from", required=True)
    target = choice(ContentType, data.get("to"), "to", required=True)
    return jsonify(data=convert(str(data.get("body") or ""), source, target))


@bp.post("/campaigns/<int:campaign_id>/test")
@require(Permission.CAMPAIGNS_SEND)
def test_campaign(campaign_id: int) -> Any:
    """Send a campaign to test addresses.
    ---
    post:
      tags: [campaigns]
      summary: Queue a test send to `subscribers` (any addresses), personalised for `subscriber_id`; not counted.
      description: "`variant` (A to E): an A/B test's variant, as its readers will get it."
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: 'Done: {"data": true}'}
        400: {$ref: '#/components/responses/Error'}
    """
    data = json_body()
    queue_test_send(get_campaign(campaign_id), _subscriber(data.get("subscriber_id")), data.get("subscribers") or [],
                    _variant(data.get("variant")))
    return jsonify(data=True)


def _subscriber(subscriber_id: Any) -> Subscriber | None:
    if subscriber_id in (None, ""):
        return None
    found = db.session.get(Subscriber, whole_number(subscriber_id, "subscriber_id", maximum=ID_MAX))
    if found is None:
        raise SubscriberNotFoundError()
    return found


# Kairan's own campaign fields: its pace, and hours in KAIRAN_TIMEZONE when nothing is sent.
PACING = {
    "segment_id": {"type": "integer", "nullable": True,
                   "description": "Send only to the subscribers of the lists who also match this segment."},
    "rate_per_minute": {"type": "integer", "minimum": 1, "nullable": True,
                        "description": "Messages a minute for this campaign, below the global limit; null: none."},
    "quiet_start": {"type": "string", "pattern": "^[0-2]?[0-9]:[0-5][0-9]$", "nullable": True,
                    "description": "No sending from this time (KAIRAN_TIMEZONE) …"},
    "quiet_end": {"type": "string", "pattern": "^[0-2]?[0-9]:[0-5][0-9]$", "nullable": True,
                  "description": "… until this one; 22:00 to 08:00 runs past midnight."},
    "send_window_start": {"type": "string", "pattern": "^[0-2]?[0-9]:[0-5][0-9]$", "nullable": True,
                          "description": "Send only from this time (KAIRAN_TIMEZONE) … The same hours as quiet_start "
                                         "and quiet_end the other way round (a window of 09:00 to 20:00 is quiet "
                                         "hours of 20:00 to 09:00): give one pair or the other."},
    "send_window_end": {"type": "string", "pattern": "^[0-2]?[0-9]:[0-5][0-9]$", "nullable": True,
                        "description": "… until this one; mail not sent by then waits for the window to open again."},
    "send_time_optimised": {"type": "boolean", "description": "Send each recipient's message at the hour they "
                            "usually open (their own human opens and clicks when at least five, else the open-time "
                            "heatmap's busiest hour), within the window, over the 24 hours from the start."},
}
VARIANT = {
    "type": "object",
    "description": "One variant; a field left empty or out is the campaign's own.",
    "properties": {
        "subject": {"type": "string", "nullable": True},
        "from_name": {"type": "string", "nullable": True, "description": "The name before the From address."},
        "preheader": {"type": "string", "nullable": True},
        "content_type": {"type": "string", "enum": [c.value for c in ContentType], "nullable": True,
                         "description": "The editing mode of this variant's own body (the campaign's by default)."},
        "body": {"type": "string", "nullable": True, "description": "Its own content; empty: the campaign's."},
        "body_source": {"type": "object", "nullable": True}, "altbody": {"type": "string", "nullable": True},
    },
}
AB_TEST_FIELDS: dict[str, Any] = {
    "test_share": {"type": "integer", "description": "10 to 50 (percent), or 100 for a plain split.", "default": 20},
    "wait_hours": {"type": "integer", "minimum": 1, "maximum": 72, "default": 4},
    "measure": {"type": "string", "enum": [m.value for m in WinnerMeasure], "default": "opens",
                "description": "conversions: purchase events attributed to the campaign."},
    "manual": {"type": "boolean", "default": False, "description": "The editor chooses the winner by hand."},
}
AB_TEST_INPUT = {
    "type": "object", "nullable": True,
    "description": "Kairan's A/B test (null removes it; only before the campaign is sent). The test phase sends the "
                   "variants to test_share % of the audience, assigned by a keyed hash of the subscriber; after "
                   "wait_hours the variant with the best rate of people's unique opens or clicks (machines never "
                   "count) is sent to the rest, unless manual (then POST /api/campaigns/{id}/ab/winner). "
                   "test_share 100 is a plain split with no winner phase.",
    "properties": {
        "variants": {"type": "array", "minItems": 2, "maxItems": 5, "items": VARIANT,
                     "description": "A, B, … in this order."},
        **AB_TEST_FIELDS,
    },
}
AB_TEST = {
    "type": "object", "nullable": True,
    "properties": {
        **AB_TEST_FIELDS,
        "variants": {"type": "array", "items": {"allOf": [VARIANT, {"properties": {"label": {"type": "string"}}}]}},
        "decide_at": {"type": "string", "format": "date-time", "nullable": True,
                      "description": "When the test phase ends and the winner is chosen (set when it starts)."},
        "winner": {"type": "string", "nullable": True, "description": "The winning variant's letter, once chosen."},
        "decided_at": {"type": "string", "format": "date-time", "nullable": True},
        "decided_by": {"type": "string", "nullable": True, "description": "auto, or the user who chose."},
        "warning": {"type": "string", "nullable": True,
                    "description": "Before sending (single campaign answers only): the audience is too small for the "
                                   "test to tell its variants apart."},
    },
}
CAMPAIGN_INPUT = {
    "type": "object", "required": ["name", "subject"],
    "properties": {
        "name": {"type": "string"}, "subject": {"type": "string"}, "from_email": {"type": "string"},
        "preheader": {"type": "string"},
        "content_type": {"type": "string", "enum": [c.value for c in ContentType]},
        "body": {"type": "string"}, "altbody": {"type": "string"},
        "body_source": {"type": "object", "description": "The visual editor's project, to reopen it."},
        "template_id": {"type": "integer"}, "lists": {"type": "array", "items": {"type": "integer"}},
        "tags": {"type": "array", "items": {"type": "string"}}, "language": {"type": "string", "enum": ["ja", "en"]},
        "charset": {"type": "string", "enum": ["utf-8", "iso-2022-jp"]}, "archive": {"type": "boolean"},
        "send_at": {"type": "string", "format": "date-time", "nullable": True,
                    "description": "When PUT .../status scheduled starts it: in the future, with a UTC offset."},
        "send_later": {"type": "boolean", "description": "false clears send_at (listmonk's flag)."},
        **PACING,
        "ab_test": AB_TEST_INPUT,
    },
}
CAMPAIGN = {
    "type": "object",
    "properties": {
        **{name: {"type": "integer"} for name in ("id", "template_id", "to_send", "sent", "failed")},
        "views": {"type": "integer", "description": "Unique opens by people (GET /api/campaigns/{id}/metrics)."},
        "clicks": {"type": "integer", "description": "Unique clicks by people."},
        "bounces": {"type": "integer", "description": "Sent deliveries that bounced (hard or soft)."},
        **{name: {"type": "string"} for name in ("uuid", "name", "subject", "from_email", "body", "preheader",
                                                 "language", "charset", "messenger")},
        "altbody": {"type": "string", "nullable": True},
        "status": {"type": "string", "enum": [s.value for s in CampaignStatus]},
        "type": {"type": "string", "enum": ["regular"]},
        "content_type": {"type": "string", "enum": [c.value for c in ContentType]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "lists": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"},
                                                                             "name": {"type": "string"}}}},
        "headers": {"type": "array", "items": {"type": "object"}},
        "archive": {"type": "boolean"},
        **PACING,
        "notice": {"type": "string", "nullable": True,
                   "description": "Why the campaign paused itself, or a rejection about the sender to look at."},
        "ab_test": AB_TEST,
        **{name: {"type": "string", "format": "date-time", "nullable": True} for name in ("send_at", "started_at")},
        **{name: {"type": "string", "format": "date-time"} for name in ("created_at", "updated_at")},
        "resend_of": {"type": "integer", "nullable": True,
                      "description": "The campaign this one resends to its non-openers (POST .../resend)."},
        "resend_machine_openers": {"type": "boolean",
                                   "description": "Whether the resend goes to those only machines opened, too."},
    },
}
CAMPAIGN_STATS = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "status": {"type": "string"}, "to_send": {"type": "integer"},
        "sent": {"type": "integer"}, "started_at": {"type": "string", "format": "date-time", "nullable": True},
        "updated_at": {"type": "string", "format": "date-time"},
        "rate": {"type": "integer", "description": "Messages sent in the last minute."},
        "net_rate": {"type": "integer", "description": "Messages per minute since the campaign started."},
    },
}
