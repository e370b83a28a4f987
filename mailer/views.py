"""The Outbox pages (what the capture server holds, each message as HTML, text and source), and what the
editing pages share: the preview frame's answer and saving an editor's form."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Email

from core.api import DEFAULT_PER_PAGE
from core.auth import Permission, require
from core.browser_policy import FRAMED_BY_KAIRAN
from core.errors import FormExpiredError
from core.forms import ConfirmForm
from core.inputs import INT64_MAX, id_or_none
from mailer.inert import inert
from mailer.jobs import queue_test_message
from mailer.outbox import CapturedMessage, Outbox

bp = Blueprint("mailer", __name__)
T = TypeVar("T")

# The captured HTML runs no script and cannot reach Kairan's origin; links open in a new tab.
HTML_PREVIEW_CSP = f"sandbox allow-popups allow-popups-to-escape-sandbox; script-src 'none'; {FRAMED_BY_KAIRAN}"
# A frame sized to its message (the Outbox, the click map) lets Kairan's page read its height, and only
# that: without allow-scripts nothing in the message runs, same origin or not.
FITTED_PREVIEW_CSP = (f"sandbox allow-popups allow-popups-to-escape-sandbox allow-same-origin; "
                      f"script-src 'none'; {FRAMED_BY_KAIRAN}")


class TestMessageForm(FlaskForm):
    """The address a test message goes to."""

    to = EmailField(validators=[DataRequired(), Email(check_deliverability=False)])


def with_new_tab_links(html: str) -> str:
    """Add <base target="_blank"> to a message's HTML, in its head when it has one."""
    base = '<base target="_blank">'
    match = re.search(r"<head[^>]*>", html, re.IGNORECASE)
    return html[: match.end()] + base + html[match.end():] if match else base + html


def _outbox() -> Outbox:
    return Outbox(Outbox.folder(current_app.config["KAIRAN"].data_dir))


def _displayed(key: str) -> CapturedMessage:
    """A captured message as the Outbox shows it: viewing it is not its reader's open or click (mailer/inert.py)."""
    captured = _outbox().get(key)
    if captured is None:
        abort(404)
    return replace(captured, html=None if captured.html is None else inert(captured.html, html=True),
                   text=None if captured.text is None else inert(captured.text, html=False))


def preview_response(html: str, fitted: bool = False) -> Any:
    """Serve a message's HTML for a sandboxed preview frame: no script, links open in a new tab.

    ``fitted``: the frame is sized to the message's height by the page around it (``data-fit-content``).
    """
    # Links open in a new tab: inside the sandboxed frame their pages could not submit forms.
    response = make_response(with_new_tab_links(html))
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = FITTED_PREVIEW_CSP if fitted else HTML_PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def save_posted(save: Callable[[], tuple[T, list[str]]]) -> T:
    """Save a posted editor form (its CSRF token checked first) and flash the checks' warnings; return what saved."""
    if not ConfirmForm().validate_on_submit():
        raise FormExpiredError()
    saved, warnings = save()
    for warning in warnings:
        flash(warning, "warning")
    return saved


@bp.get("/outbox/")
@require(Permission.OUTBOX_READ)
def outbox() -> Any:
    """List captured messages, newest first."""
    page_number = id_or_none(request.args.get("page"), INT64_MAX) or 1
    entries, total = _outbox().page(page_number, DEFAULT_PER_PAGE)
    return render_template(
        "mailer/outbox.html", entries=entries, total=total, page=page_number, per_page=DEFAULT_PER_PAGE,
        settings=current_app.config["KAIRAN"], form=TestMessageForm(), confirm_form=ConfirmForm(),
    )


@bp.get("/outbox/<key>")
@require(Permission.OUTBOX_READ)
def message(key: str) -> Any:
    """Show one message: rendered HTML in a sandboxed frame, plain text, and raw source (as captured)."""
    return render_template("mailer/message.html", message=_displayed(key))


@bp.get("/outbox/<key>/html")
@require(Permission.OUTBOX_READ)
def message_html(key: str) -> Any:
    """Serve a message's HTML part for the sandboxed preview frame."""
    captured = _displayed(key)
    if captured.html is None:
        abort(404)
    return preview_response(captured.html, fitted=True)


@bp.post("/outbox/test")
@require(Permission.CAMPAIGNS_SEND)
def send_test() -> Any:
    """Queue a test message; a worker sends it through the configured relay."""
    form = TestMessageForm()
    if form.validate_on_submit():
        queue_test_message(form.to.data, str(get_locale() or "en"))
        if current_app.config["KAIRAN"].embedded_smtp:
            flash(_("Test message to %(to)s queued. Reload in a moment to see it.", to=form.to.data), "success")
        else:  # it goes to the relay, and nothing will appear here
            flash(_("Test message to %(to)s queued: a worker sends it through the relay in KAIRAN_SMTP_URL.",
                    to=form.to.data), "success")
    else:
        flash(_("Enter a valid email address for the test message."), "error")
    return redirect(url_for("mailer.outbox"))


@bp.post("/outbox/clear")
@require(Permission.CAMPAIGNS_SEND)
def clear() -> Any:
    """Delete every captured message."""
    if ConfirmForm().validate_on_submit():
        count = _outbox().clear()
        flash(ngettext("%(num)d captured message deleted.", "%(num)d captured messages deleted.", count), "success")
    return redirect(url_for("mailer.outbox"))
