"""What browsers may do with Kairan's pages: a content security policy, and who may frame them.

Pages load script only from Kairan itself (static/ and the editors from node_modules under /vendor/):
no template carries inline script or event handlers (tests/core/test_browser_policy.py checks).
Styles may be inline, because GrapesJS, Quill and CodeMirror write style attributes and <style>
elements as they edit, and a campaign's own CSS is shown in the visual editor's canvas; CSS runs no
script. Images come from anywhere: campaign bodies and KAIRAN_LOGO_URL link to other sites' images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request

F = TypeVar("F", bound=Callable[..., Any])

PAGE_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src * data: blob:",
    "font-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
])
NOT_FRAMED = "frame-ancestors 'none'"
# Message previews (mailer.views.preview_response) set their own policy, for Kairan's own frames.
FRAMED_BY_KAIRAN = "frame-ancestors 'self'"


def embeddable(view: F) -> F:
    """Let other sites show this page in a frame (the public subscription form is meant to be)."""
    view.kairan_embeddable = True  # type: ignore[attr-defined]
    return view


def add_policy(response: Response) -> Response:
    """Give every HTML page the policy and framing protection, unless it set a policy of its own."""
    if response.mimetype != "text/html" or "Content-Security-Policy" in response.headers:
        return response
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "kairan_embeddable", False):
        response.headers["Content-Security-Policy"] = PAGE_POLICY
    else:
        response.headers["Content-Security-Policy"] = f"{PAGE_POLICY}; {NOT_FRAMED}"
        response.headers["X-Frame-Options"] = "DENY"  # for browsers that predate frame-ancestors
    return response


def init_app(app: Flask) -> None:
    """Add the policy to every response."""
    app.after_request(add_policy)
