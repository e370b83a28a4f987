"""The preview's check of a message's surveys: the same question asked twice.

Answers are kept by question (``/survey/nps/9``), not by block: two NPS blocks in one message would be one
question to the report and to the reader's ``survey_nps``, whichever block was answered. So the preview warns.
"""

from __future__ import annotations

import re
from collections import Counter

from flask import current_app
from flask_babel import gettext as _

from mailer.models import Campaign
from mailer.paths import SURVEY_ANSWER
from surveys.questions import QUESTIONS


def _answer_links() -> re.Pattern[str]:
    """Links to an answer's confirm page, as the survey blocks write them: (question, answer) each."""
    base = str(current_app.config["KAIRAN"].base_url) + SURVEY_ANSWER.prefix
    return re.compile(r'href="' + re.escape(base) + r'([a-z_]+)/([a-z0-9_]+)"', re.IGNORECASE)


def duplicated_questions(campaign: Campaign, content: str) -> list[str]:
    """Warn of each question the message asks more than once (an answer linked twice is a second block)."""
    links = Counter(_answer_links().findall(content))
    asked: dict[str, int] = {}
    for (question, _answer), times in links.items():
        if question in QUESTIONS:
            asked[question] = max(asked.get(question, 0), times)
    return [_("The survey question “%(question)s” is in this message %(n)d times: its answers are counted as one "
              "question, whichever block was answered. Keep one.", question=QUESTIONS[question].wording, n=times)
            for question, times in sorted(asked.items()) if times > 1]
