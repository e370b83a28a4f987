"""The preview's checks of a message's surveys: the same question asked twice, and a block missing its question.

Answers are kept by question (``/survey/nps/9``), not by block: two NPS blocks in one message would be one
question to the report and to the reader's ``survey_nps``, whichever block was answered. So the preview warns.
A survey block (an element with ``data-survey``) whose answer links come with no question text before them is
broken (its question deleted in the editor): readers would see buttons without knowing what they answer.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

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


class _SurveyBlocks(HTMLParser):
    """The survey blocks of a message in order: (question named by the block, whether text precedes its first
    answer link). Blocks are found by their ``data-survey`` element, its end by counting that tag's nesting."""

    def __init__(self, answer_links: re.Pattern[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.answer_links = answer_links
        self.blocks: list[tuple[str, bool]] = []
        self._tag = ""  # the open survey element's tag, "" outside a survey
        self._depth = 0
        self._question = ""
        self._worded = False  # text seen in the block before any answer link
        self._answered = False  # an answer link seen in the block
        self._in_link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if not self._tag:
            if "data-survey" in values:
                self._tag, self._depth, self._question = tag, 1, values["data-survey"] or ""
                self._worded = self._answered = self._in_link = False
            return
        if tag == self._tag:
            self._depth += 1
        if tag == "a":
            self._in_link = True
            if not self._answered and self.answer_links.match(f'href="{values.get("href") or ""}"'):
                self._answered = True
                self.blocks.append((self._question, self._worded))

    def handle_endtag(self, tag: str) -> None:
        if not self._tag:
            return
        if tag == "a":
            self._in_link = False
        if tag == self._tag:
            self._depth -= 1
            if self._depth == 0:
                self._tag = ""

    def handle_data(self, data: str) -> None:
        if self._tag and not self._in_link and not self._answered and data.strip():
            self._worded = True


def questionless_surveys(campaign: Campaign, content: str) -> list[str]:
    """Warn of each survey block whose answer buttons have no question before them (its question deleted)."""
    parser = _SurveyBlocks(_answer_links())
    parser.feed(content)
    parser.close()
    return [_("A survey block has its answer buttons but no question above them (“%(question)s” was deleted): "
              "readers would not know what they answer. Delete the block and add it again.",
              question=QUESTIONS[question].wording if question in QUESTIONS else question)
            for question, worded in parser.blocks if not worded]
