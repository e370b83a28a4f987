"""Open pixel, click redirect, bot classification, bounces and complaints, campaign metrics."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the open pixel and the click redirect, the event flusher and the ``tracking`` commands."""
    from core.signals import reconciling
    from core.web import limiter
    from tracking import cli, flush, metrics_cache, models, views  # noqa: F401  (models: their tables)

    app.register_blueprint(views.bp)
    # /o/<token>.gif and known /c/<token> are answered here, in front of Flask (see tracking/views.py).
    app.wsgi_app = views.TrackingFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    limiter.exempt(views.bp)  # nothing to protect, and every request counts: no rate-limit lookups
    app.cli.add_command(cli.tracking_cli)
    reconciling.connect(flush.flush_on_reconcile)  # blinker keeps one connection per receiver
    metrics_cache.listen()
