"""The confirm page a survey answer's link opens: the answer shown, an optional comment, one tap to send.

Link scanners and prefetchers fetch every link in a message; a GET here therefore records nothing (the click
redirect in front of it counts a click, and tells machines from people as for any link). Only the form's POST
records, and it carries the CSRF token of the session the GET started, so a request that did not come from the
page a person saw is refused.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from core.auth import public
from core.refusals import showing_refusal
from mailer.paths import SURVEY_ANSWER, SURVEY_PARAMETER
from surveys.answers import earlier_answer, reader_of, record_answer
from surveys.questions import MAX_COMMENT, question_named

bp = Blueprint("surveys", __name__)


class AnswerForm(FlaskForm):
    """The confirm page's form: a comment, if the reader has one, and the CSRF token."""

    comment = TextAreaField(_l("Anything you would like to add? (optional)"))


@bp.route(SURVEY_ANSWER.rule, methods=["GET", "POST"])
@public
def answer(question: str, answer: str) -> Any:
    """Show the answer to confirm (GET, records nothing); record it when the reader sends the form (POST)."""
    found = question_named(question)
    chosen = found.label(found.score(answer))
    token = request.values.get(SURVEY_PARAMETER, "")
    reader = reader_of(token)
    if reader is None:  # a preview, a test message or the web version: no reader to record for
        return render_template("surveys/sample.html", question=found, chosen=chosen)
    form = AnswerForm()
    if form.validate_on_submit():
        with showing_refusal(form, flash_it=False):
            record_answer(reader, found, answer, form.comment.data or "")
            return render_template("surveys/thanks.html", question=found, chosen=chosen)
    earlier = earlier_answer(reader, found)
    return render_template("surveys/confirm.html", question=found, chosen=chosen, form=form, token=token,
                           campaign=reader.campaign, max_comment=MAX_COMMENT,
                           earlier=found.label(earlier.score) if earlier else None), 400 if form.errors else 200
