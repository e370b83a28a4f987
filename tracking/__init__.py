"""Open pixel, click redirect, bot classification, bounces and complaints, campaign metrics and report."""

from __future__ import annotations

from flask import Flask

# Declared on import, before the app is built: load_settings reads tracking's settings.
from tracking.settings import BOUNCES


def init_app(app: Flask) -> None:
    """Register the pixel and the redirect, the event flusher, bounce intake (inbound SMTP server, mailbox polling,
    provider webhooks), the bounces API and page, the metrics, the report, the timeline, the segment rules on opens
    and clicks, and the commands."""
    from core import campaign_stats, dashboard, timeline
    from core.api import register_schema
    from core.auth import Permission
    from core.embedded import ServiceSpec, flask_command, port_answers, register_service
    from core.signals import reconciling, subscribers_deleting, unsubscribed_from_campaign, winner_chosen
    from core.web import limiter
    from mailer.starting import register_send_times
    from tracking import (  # noqa: F401  (models: their tables)
        ab_results,
        behaviour_rules,
        bounce_api,
        bounce_views,
        bounces,
        cli,
        flush,
        heatmap_views,
        mailbox,
        metric_queries,
        metrics_api,
        metrics_cache,
        models,
        report_views,
        send_times,
        stream,
        tallies,
        unsubscribes,
        views,
        webhooks,
    )
    from tracking import timeline as touchpoints

    app.register_blueprint(views.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(bounce_views.bp)
    app.register_blueprint(bounce_api.bp)
    register_schema(app, "Bounce", bounce_api.BOUNCE)
    # The open pixel and known click tokens are answered here, in front of Flask (see tracking/views.py).
    app.wsgi_app = views.TrackingFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    limiter.exempt(views.bp)  # nothing to protect, and every request counts: no rate-limit lookups
    app.cli.add_command(cli.tracking_cli)
    app.cli.add_command(cli.bounces_cli)
    app.extensions[stream.FLUSH_JOB_EXTENSION] = flush.flush_events
    reconciling.connect(flush.flush_on_reconcile)  # blinker keeps one connection per receiver
    reconciling.connect(ab_results.decide_due_tests)  # it stores the opens and clicks it counts
    reconciling.connect(tallies.count_audiences_on_reconcile)  # reports read audiences, never count them
    winner_chosen.connect(tallies.recount_audience)
    subscribers_deleting.connect(bounces.forget_subscribers)
    reconciling.connect(mailbox.queue_poll_on_reconcile)
    # `flask up` receives bounces on loopback; at scale `flask bounces serve` runs where the MX points.
    port = BOUNCES.of(app.config["KAIRAN"]).port
    register_service(app, ServiceSpec("bounce-smtp", flask_command("bounces", "serve", "--port", str(port)),
                                      ready=lambda: port_answers(port), port=("KAIRAN_BOUNCE_PORT", port)))
    unsubscribed_from_campaign.connect(unsubscribes.record_unsubscribe)
    metrics_cache.listen()
    app.register_blueprint(metrics_api.bp)
    app.register_blueprint(metrics_api.api_bp)
    register_schema(app, "CampaignMetrics", metrics_api.CAMPAIGN_METRICS)
    register_schema(app, "CampaignReport", metrics_api.CAMPAIGN_REPORT)
    register_schema(app, "ABResults", metrics_api.AB_RESULTS)
    register_schema(app, "CampaignAnalyticsCount", metrics_api.ANALYTICS_COUNT)
    campaign_stats.register(app, metric_queries.listmonk_counts)  # views, clicks, bounces of GET /api/campaigns
    app.register_blueprint(report_views.bp)
    app.register_blueprint(heatmap_views.bp)
    app.register_blueprint(heatmap_views.api_bp)
    register_schema(app, "Heatmap", heatmap_views.HEATMAP)
    register_send_times(app, send_times.send_times)  # send-time optimisation: each reader's hour
    dashboard.register(app, Permission.STATS_READ, report_views.comparison_panel)
    behaviour_rules.register()  # segment rules: opened, clicked, engaged (by people)
    for source in (touchpoints.send_events, touchpoints.engagement_events, touchpoints.bounce_events,
                   touchpoints.unsubscribe_events):
        timeline.register(app, source)
