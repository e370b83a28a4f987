"""Paths a campaign message links to, besides lists' public pages (lists/paths.py).

The archive and media files are mailer's pages (mailer/compose_views.py). The open pixel and the click
redirect are tracking's (tracking/views.py answers them), but mailer writes them into every message,
and mailer does not import tracking: so they are written here, once, for both.
"""

from __future__ import annotations

from core.urls import PublicPath

ARCHIVE_MESSAGE = PublicPath("/archive/<campaign_uuid>")  # a campaign's web version ("view in browser")
MEDIA_FILE = PublicPath("/media/<uuid>.<ext>")  # an uploaded image, when Kairan serves them itself
OPEN_PIXEL = PublicPath("/o/<token>.gif")
CLICK = PublicPath("/c/<token>")
# A survey answer's confirm page (surveys/views.py). The visual editor's survey blocks link to it; when the click
# redirect sends a reader there, it adds SURVEY_PARAMETER: the delivery, signed (core.tokens.Mark.SURVEY).
SURVEY_ANSWER = PublicPath("/survey/<question>/<answer>")
SURVEY_PARAMETER = "d"
