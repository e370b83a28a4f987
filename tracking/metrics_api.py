"""Campaign figures over HTTP: Kairan's metrics and report, listmonk's analytics, and the CSV exports.

Every route reads tracking/metrics.py, so the API, the report page and the exports agree. Viewers may read all of it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from core.auth import Permission, require
from core.errors import NotFoundError, ValidationError
from core.inputs import int_arg
from core.safecsv import chosen_encoding
from lists.export_columns import csv_download, header_language
from mailer.campaigns import get_campaign
from tracking.ab_results import test_report_as_dict
from tracking.analytics import analytics, campaign_ids, parse_moment
from tracking.metrics import COMPARED, campaign_metrics, campaign_report, compare_campaigns
from tracking.metrics_export import activity_csv, report_csv
from tracking.revenue import Problem

bp = Blueprint("metrics", __name__)
api_bp = Blueprint("metrics_api", __name__, url_prefix="/api")
MAX_COMPARED = 100


def _language() -> str:
    """The header row's language: the UI's on the report page; the machine names through the API unless asked."""
    return header_language("en" if request.path.startswith("/api/") else None)


@bp.get("/campaigns/<int:campaign_id>/report.csv")
@require(Permission.STATS_READ)
def report_download(campaign_id: int) -> Any:
    """Download the campaign's report (headline metrics, links, domains) as CSV (UTF-8 with BOM, or CP932)."""
    encoding = chosen_encoding(request.args)
    return csv_download(report_csv(campaign_report(campaign_id), encoding, _language()),
                        f"campaign-{campaign_id}-report", encoding)


@bp.get("/campaigns/<int:campaign_id>/activity.csv")
@require(Permission.STATS_READ)
def activity_download(campaign_id: int) -> Any:
    """Download each recipient's activity as CSV, streamed."""
    get_campaign(campaign_id)
    encoding = chosen_encoding(request.args)
    return csv_download(activity_csv(campaign_id, encoding, _language()), f"campaign-{campaign_id}-activity",
                        encoding)


ENCODING_PARAMETER = {"in": "query", "name": "encoding", "schema": {"type": "string", "enum": ["utf-8", "cp932"]}}


@api_bp.get("/campaigns/<int:campaign_id>/report.csv")
@require(Permission.STATS_READ)
def api_report_csv(campaign_id: int) -> Any:
    """Download the report as CSV.
    ---
    get:
      tags: [metrics]
      summary: The campaign's headline metrics, links and domains as one CSV (UTF-8 with BOM, or CP932).
      parameters:
        - {in: path, name: campaign_id, required: true, schema: {type: integer}}
        - {in: query, name: encoding, schema: {type: string, enum: [utf-8, cp932]}}
        - {in: query, name: headers, description: "The header row's language (default en, the column names below).",
           schema: {type: string, enum: [en, ja]}}
      responses:
        200: {description: 'CSV: metric,value rows; then url,clicks,unique_clicks,machine_clicks; then
          domain,recipients,sent,bounced,opened,clicked. Blocks are separated by an empty row.',
          content: {text/csv: {schema: {type: string}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return report_download(campaign_id)


@api_bp.get("/campaigns/<int:campaign_id>/activity.csv")
@require(Permission.STATS_READ)
def api_activity_csv(campaign_id: int) -> Any:
    """Download each recipient's activity as CSV.
    ---
    get:
      tags: [metrics]
      summary: One row per recipient, streamed (UTF-8 with BOM, or CP932).
      parameters:
        - {in: path, name: campaign_id, required: true, schema: {type: integer}}
        - {in: query, name: encoding, schema: {type: string, enum: [utf-8, cp932]}}
        - {in: query, name: headers, description: "The header row's language (default en, the column names below).",
           schema: {type: string, enum: [en, ja]}}
      responses:
        200: {description: 'CSV: email,status,sent_at,first_open_at,first_click_at,bounce (hard, soft or
          "soft (sender)"),bounce_status,complaint,unsubscribed_at.', content: {text/csv: {schema: {type: string}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return activity_download(campaign_id)


@api_bp.get("/campaigns/<int:campaign_id>/metrics")
@require(Permission.STATS_READ)
def get_metrics(campaign_id: int) -> Any:
    """Return a campaign's metrics.
    ---
    get:
      tags: [metrics]
      summary: Every headline metric of one campaign, machines' opens and clicks apart.
      description: Figures of a running campaign are at most a few seconds old.
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: The metrics.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/CampaignMetrics'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=campaign_metrics(campaign_id).as_dict())


@api_bp.get("/campaigns/<int:campaign_id>/ab")
@require(Permission.STATS_READ)
def get_ab_results(campaign_id: int) -> Any:
    """Return a campaign's A/B test results.
    ---
    get:
      tags: [metrics]
      summary: Each variant's figures in the test phase (people's unique opens and clicks over delivered; machines'
        opens apart), the rest of the audience sent the winner, the winner, and the two-proportion test's verdict.
      description: The verdict compares the leader with the runner-up on the test's measure (pooled two-proportion
        z-test, two-sided, called at 95 % confidence); needed_per_variant is the recipients each variant would need
        to tell the two observed rates apart with 95 % confidence and 80 % power. A campaign without a test answers
        400.
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: The results.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/ABResults'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    results = test_report_as_dict(get_campaign(campaign_id))
    if results is None:
        raise NotFoundError(_("This campaign has no A/B test."))
    return jsonify(data=results)


@api_bp.get("/campaigns/<int:campaign_id>/report")
@require(Permission.STATS_READ)
def get_report(campaign_id: int) -> Any:
    """Return a campaign's report.
    ---
    get:
      tags: [metrics]
      summary: Metrics, opens and clicks over time, links, receiving domains, mail clients, recent bounces.
      parameters: [{in: path, name: campaign_id, required: true, schema: {type: integer}}]
      responses:
        200:
          description: The report.
          content:
            application/json:
              schema: {type: object, properties: {data: {$ref: '#/components/schemas/CampaignReport'}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=campaign_report(campaign_id).as_dict())


@api_bp.get("/campaigns/compare")
@require(Permission.STATS_READ)
def get_comparison() -> Any:
    """Compare recent campaigns.
    ---
    get:
      tags: [metrics]
      summary: The most recently started campaigns' metrics, newest first (not automations' messages).
      parameters: [{in: query, name: limit, schema: {type: integer, minimum: 1, maximum: 100, default: 10}}]
      responses:
        200:
          description: One entry per campaign (id, name, status, started_at and every metric).
          content:
            application/json:
              schema: {type: object, properties: {data: {type: array, items: {type: object}}}}
        400: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=compare_campaigns(int_arg("limit", COMPARED, maximum=MAX_COMPARED)))


@api_bp.get("/campaigns/analytics/<kind>")
@require(Permission.STATS_READ)
def get_analytics(kind: str) -> Any:
    """Return listmonk's campaign analytics.
    ---
    get:
      tags: [campaigns]
      summary: Views, clicks or bounces per day (KAIRAN_TIMEZONE), or clicks per link, of some campaigns.
      description: Views and clicks are people's; machines' (Apple's prefetch, link scanners) are left out.
      parameters:
        - {in: path, name: kind, required: true, schema: {type: string, enum: [views, clicks, bounces, links]}}
        - {in: query, name: id, required: true, schema: {type: array, items: {type: integer}},
           description: "Campaign ids (repeat the parameter, or separate them with commas)."}
        - {in: query, name: from, required: true, schema: {type: string},
           description: A date (from its start in KAIRAN_TIMEZONE) or a time with its offset.}
        - {in: query, name: to, required: true, schema: {type: string},
           description: A date (to its end) or a time with its offset.}
      responses:
        200:
          description: 'views, clicks, bounces: {"campaign_id","count","timestamp"} per campaign and day;
            links: {"url","count"}.'
          content:
            application/json:
              schema:
                type: object
                properties:
                  data: {type: array, items: {$ref: '#/components/schemas/CampaignAnalyticsCount'}}
        400: {$ref: '#/components/responses/Error'}
    """
    ids = campaign_ids(request.args.getlist("id"))
    if not request.args.get("from") or not request.args.get("to"):
        raise ValidationError(_("from and to are needed."))
    since = parse_moment(request.args["from"], "from")
    until = parse_moment(request.args["to"], "to", end=True)
    return jsonify(data=analytics(kind, ids, since, until))


RATE = {"type": "number", "nullable": True, "description": "null while its denominator is 0."}
CAMPAIGN_METRICS = {
    "type": "object",
    "description": "Kairan's metric definitions (tracking/metrics.py, docs/architecture.md). With individual tracking "
                   "off, opens and clicks are counts of people's events (upper bounds) and individual is false.",
    "properties": {
        **{name: {"type": "integer"} for name in (
            "campaign_id", "recipients", "sent", "failed", "pending", "suppressed", "bounced", "hard_bounced",
            "soft_bounced", "delivered", "unique_opens", "machine_opens", "unique_clicks", "machine_clicks",
            "unsubscribes", "complaints", "conversions", "converted")},
        **{name: RATE for name in ("delivery_rate", "open_rate", "click_rate", "click_to_open", "unsubscribe_rate",
                                   "complaint_rate", "conversion_rate")},
        "revenue": {"type": "number", "description": "Conversions' amounts in currency (the installation's "
                                                     "KAIRAN_CURRENCY), in its units: 1980 yen, 19.99 dollars."},
        "revenue_per_recipient": {**RATE, "description": "revenue / delivered; null while nothing was delivered."},
        "currency": {"type": "string", "description": "ISO 4217 code of revenue."},
        "individual": {"type": "boolean"},
    },
}
_COUNTS = {"type": "integer"}
CAMPAIGN_REPORT = {
    "type": "object",
    "properties": {
        "metrics": {"$ref": "#/components/schemas/CampaignMetrics"},
        "started_at": {"type": "string", "format": "date-time", "nullable": True},
        "computed_at": {"type": "string", "format": "date-time"},
        "timeline": {"type": "array", "description": "Hourly for 48 hours from the start's hour, then daily.",
                     "items": {"type": "object", "properties": {
                         "start": {"type": "string", "format": "date-time"}, "hours": {"type": "integer"},
                         **{n: _COUNTS for n in ("opens", "machine_opens", "clicks", "machine_clicks")}}}},
        "links": {"type": "array", "items": {"type": "object", "properties": {
            "url": {"type": "string"}, **{n: _COUNTS for n in ("clicks", "unique_clicks", "machine_clicks")}}}},
        "domains": {"type": "array", "description": "The top receiving domains, then one named other.",
                    "items": {"type": "object", "properties": {
                        "domain": {"type": "string"},
                        **{n: _COUNTS for n in ("recipients", "sent", "bounced", "opened", "clicked")}}}},
        **{name: {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "opens": _COUNTS}}} for name in ("clients", "devices")},
        "bounces": {"type": "array", "items": {"type": "object", "properties": {
            **{n: {"type": "string"} for n in ("email", "type", "status", "diagnostic", "source")},
            "sender_refused": {"type": "boolean"}, "created_at": {"type": "string", "format": "date-time"}}}},
        "revenue": {"type": "array", "description": "Revenue in every currency conversions were in, the "
                                                    "installation's first (never converted between currencies).",
                    "items": {"type": "object", "properties": {"currency": {"type": "string"},
                                                               "amount": {"type": "number"}}}},
        "no_revenue": {"type": "array", "description": "Conversions whose amount added no revenue, per reason.",
                       "items": {"type": "object", "properties": {
                           "problem": {"type": "string", "enum": [p.value for p in Problem]},
                           "conversions": _COUNTS}}},
    },
}
ANALYTICS_COUNT = {
    "type": "object",
    "properties": {"campaign_id": {"type": "integer"}, "count": {"type": "integer"},
                   "timestamp": {"type": "string", "format": "date-time"},
                   "url": {"type": "string", "description": "links only (with count)."}},
}

_AB_FIGURES = {
    "type": "object",
    "properties": {
        "label": {"type": "string"},
        **{name: {"type": "integer"} for name in ("recipients", "sent", "bounced", "delivered", "unique_opens",
                                                   "unique_clicks", "machine_opens")},
        "conversions": {"type": "integer", "nullable": True,
                        "description": "The test phase's recipients who converted (a purchase attributed to their "
                                       "message); null for the rest."},
        **{name: {"type": "number", "nullable": True} for name in ("open_rate", "click_rate", "conversion_rate")},
    },
}
AB_RESULTS = {
    "type": "object",
    "properties": {
        "measure": {"type": "string", "enum": ["opens", "clicks", "conversions"]},
        "test_share": {"type": "integer"},
        "winner": {"type": "string", "nullable": True}, "decided_by": {"type": "string", "nullable": True},
        **{name: {"type": "string", "format": "date-time", "nullable": True} for name in ("decide_at", "decided_at")},
        "variants": {"type": "array", "items": _AB_FIGURES, "description": "A, B, …: their test phase."},
        "rest": {"allOf": [_AB_FIGURES], "nullable": True,
                 "description": "The rest of the audience, sent the winner (null until then)."},
        "held": {"type": "integer", "description": "Recipients of the rest waiting for the winner (0 once chosen)."},
        "verdict": {"type": "object", "nullable": True, "properties": {
            "leader": {"type": "string"}, "runner_up": {"type": "string"}, "called": {"type": "boolean"},
            "z": {"type": "number", "nullable": True}, "p_value": {"type": "number", "nullable": True},
            "needed_per_variant": {"type": "integer", "nullable": True}, "statement": {"type": "string"}}},
    },
}
