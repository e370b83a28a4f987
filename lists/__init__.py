"""Subscribers, lists and subscriptions, imports, segments and the public subscription pages."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the lists pages and API routes."""
    from lists import api, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
