"""Open pixel, click redirect, bot classification, bounces and complaints, campaign metrics."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the pixel, the redirect, the event flusher, the report, the timeline sources and the commands."""
    from core import dashboard, timeline
    from core.auth import Permission
    from core.signals import reconciling
    from core.web import limiter
    from tracking import cli, flush, metrics_cache, models, report_views, views  # noqa: F401  (models: their tables)
    from tracking import timeline as touchpoints

    app.register_blueprint(views.bp)
    app.register_blueprint(report_views.bp)
    dashboard.register(app, Permission.STATS_READ, report_views.comparison_panel)
    for source in (touchpoints.send_events, touchpoints.engagement_events, touchpoints.bounce_events,
                   touchpoints.unsubscribe_events):
        timeline.register(app, source)
    # /o/<token>.gif and known /c/<token> are answered here, in front of Flask (see tracking/views.py).
    app.wsgi_app = views.TrackingFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    limiter.exempt(views.bp)  # nothing to protect, and every request counts: no rate-limit lookups
    app.cli.add_command(cli.tracking_cli)
    reconciling.connect(flush.flush_on_reconcile)  # blinker keeps one connection per receiver
    metrics_cache.listen()
