"""Surveys in mail: NPS, satisfaction and yes/no questions answered from a campaign message, on a confirm page.

The package above automations (it stores its answers as customer events); only app.py imports it.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the confirm page, the campaign report's survey section, the preview's checks (questions asked twice,
    blocks missing their question), and forgetting deleted subscribers' answers."""
    from core.signals import subscribers_deleting
    from mailer.previews import register_preview_check
    from surveys import models, views  # noqa: F401  (models: their tables)
    from surveys.answers import forget_subscribers
    from surveys.checks import duplicated_questions, questionless_surveys
    from surveys.results import survey_section
    from tracking.report_views import register_report_section

    app.register_blueprint(views.bp)
    register_report_section(survey_section)
    register_preview_check(duplicated_questions)
    register_preview_check(questionless_surveys)
    subscribers_deleting.connect(forget_subscribers)
