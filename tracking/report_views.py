"""The campaign report page, its live JSON, the click map, and the dashboard's comparison of campaigns.

Every figure comes from tracking/metrics.py. The page's numbers are rendered by the partial
templates of tracking/_report_parts.html; while a campaign runs, the page polls report.json,
which answers the same figures as JSON (for the charts) and the same partials rendered again
(for everything else), so the numbers are written by one piece of code, not two.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, url_for
from flask_babel import format_currency, format_percent
from flask_babel import gettext as _
from markupsafe import Markup

from core.auth import Permission, require
from core.forms import ConfirmForm
from core.refusals import showing_refusal
from core.web import can
from mailer.ab_form import MEASURE_LABELS
from mailer.campaigns import get_campaign
from mailer.compose_views import CAMPAIGN_STATUS_LABELS
from mailer.models import Campaign, CampaignKind, CampaignStatus
from mailer.resends import RESENDABLE
from mailer.scheduling import local_zone
from mailer.views import preview_response
from tracking.ab_results import test_report
from tracking.clickmap import LinkClicks, click_map_html
from tracking.heatmap_views import heatmap_part
from tracking.labels import BOUNCE_TYPES
from tracking.metrics import CampaignReport, campaign_report, compare_campaigns
from tracking.resends import pair_of
from tracking.revenue import PROBLEM_LABELS
from tracking.send_times import heatmap

bp = Blueprint("report", __name__)

POLL_SECONDS = 5  # how often a running campaign's report asks again (the metrics cache keeps 5 s: LIVE_SECONDS)
COMPARED = 8  # campaigns on the dashboard's comparison

# Sections higher packages add to the report (surveys' answers), each rendered for the campaign, in order:
# the report shows what they know without tracking importing them.
ReportSection = Callable[[Campaign], Markup | str]
SECTIONS: list[ReportSection] = []


def register_report_section(section: ReportSection) -> None:
    """Add a section to every campaign's report, after the links; registering it again is a no-op."""
    if section not in SECTIONS:
        SECTIONS.append(section)


@bp.app_template_filter("percent")
def percent(value: float | None) -> str:
    """Show a rate as a percentage with one decimal, or a dash when it has no denominator yet."""
    return "—" if value is None else format_percent(value, "#,##0.0%")


@bp.app_template_filter("money")
def money(value: float, currency: str) -> str:
    """Show an amount in its currency, as the reader's language writes it (￥3,980, $19.99)."""
    return format_currency(value, currency)


def link_clicks(report: CampaignReport) -> dict[str, LinkClicks]:
    """Each tracked URL's clicks by people and its share of all of them, for the table and the click map."""
    total = sum(link.clicks for link in report.links)
    return {link.url: LinkClicks(link.clicks, link.unique_clicks, link.clicks / total if total else None)
            for link in report.links}


def export_links(campaign_id: int) -> list[tuple[str, str]]:
    """The report's CSV downloads (tracking/metrics_api.py), each in UTF-8 and in Excel's Shift_JIS: (label, URL)."""
    downloads = (("metrics.report_download", _("Report CSV"), _("Report CSV (Shift_JIS)")),
                 ("metrics.activity_download", _("Each recipient CSV"), _("Each recipient CSV (Shift_JIS)")))
    return [link for endpoint, utf8, cp932 in downloads
            for link in ((utf8, url_for(endpoint, campaign_id=campaign_id, encoding="utf-8")),
                         (cp932, url_for(endpoint, campaign_id=campaign_id, encoding="cp932")))]


def _parts(report: CampaignReport) -> dict[str, Markup]:
    """Render the report's partials, each by its macro in tracking/_report_parts.html."""
    module: Any = current_app.jinja_env.get_template("tracking/_report_parts.html").module
    clicks = link_clicks(report)
    return {
        "headline": module.headline(report.metrics, report.revenue, report.no_revenue, PROBLEM_LABELS),
        "funnel": module.funnel(report.metrics),
        "links": module.links(report.links, clicks),
        "domains": module.domains(report.domains),
        "clients": module.shares(report.clients, report.devices),
        "bounces": module.bounces(report.bounces, BOUNCE_TYPES),
    }


def _live(campaign: Campaign) -> bool:
    return campaign.status == CampaignStatus.RUNNING


@bp.get("/campaigns/<int:campaign_id>/report")
@require(Permission.STATS_READ)
def campaign(campaign_id: int) -> Any:
    """Show a campaign's report: headline rates, opens and clicks over time, links, domains, clients, bounces."""
    found = get_campaign(campaign_id)
    report = campaign_report(campaign_id)
    pair = pair_of(found)
    resendable = (pair is None and found.resend_of is None and found.status in RESENDABLE
                  and found.kind == CampaignKind.REGULAR)
    return render_template("tracking/report.html", campaign=found, report=report, parts=_parts(report),
                           chart_data=report.as_dict(), live=_live(found), poll_seconds=POLL_SECONDS,
                           exports=export_links(campaign_id), zone=local_zone().key,
                           heatmap=heatmap_part(heatmap(campaign_id), source=campaign_id),
                           status_label=CAMPAIGN_STATUS_LABELS[found.status.value], ab=test_report(found),
                           form=ConfirmForm(), measure_labels=MEASURE_LABELS, pair=pair,
                           resendable=resendable and can(Permission.CAMPAIGNS_SEND),
                           status_labels=CAMPAIGN_STATUS_LABELS, sections=[section(found) for section in SECTIONS])


@bp.get("/campaigns/<int:campaign_id>/report.json")
@require(Permission.STATS_READ)
def data(campaign_id: int) -> Any:
    """Answer the report page's poll: the figures, and its partials rendered again."""
    found = get_campaign(campaign_id)
    report = campaign_report(campaign_id)
    return jsonify(data={**report.as_dict(), "status": found.status.value, "live": _live(found)},
                   parts=_parts(report))


@bp.get("/campaigns/<int:campaign_id>/clickmap.html")
@require(Permission.STATS_READ)
def click_map(campaign_id: int) -> Any:
    """Serve the campaign's message with each tracked link badged with its clicks, for a sandboxed frame."""
    found = get_campaign(campaign_id)
    title = _("{url}: {clicks} clicks by {people} people")
    with showing_refusal(flash_it=False) as attempt:  # a layout broken since the send: say so inside the frame
        return preview_response(click_map_html(found, link_clicks(campaign_report(campaign_id)), title), fitted=True)
    return preview_response(f"<p>{Markup.escape(attempt.message)}</p>", fitted=True)


def comparison_panel() -> Markup | str:
    """The dashboard's comparison of the last campaigns' rates, or nothing before the first send."""
    rows = [{**row, "started_at": datetime.fromisoformat(row["started_at"]) if row["started_at"] else None}
            for row in compare_campaigns(COMPARED)]  # the API's ISO time, back to one the datetime filter shows
    if not rows:
        return ""
    return Markup(render_template("tracking/_compare.html", rows=rows))  # noqa: S704  (our template's output)
