"""The three questions a survey block asks, what answers each takes, and how an answer reads on a page.

A block's links name the question by its kind (``/survey/nps/9``), so a campaign asks each kind once and a
subscriber's attribute (``survey_nps``) holds their latest answer to it, across campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from surveys.errors import UnknownAnswerError, UnknownQuestionError


@dataclass(frozen=True)
class Question:
    """A kind of question: its answers (as the link writes them, with their scores) and its wording."""

    name: str
    answers: dict[str, int]
    wording: LazyString  # worded in the reader's language when shown

    def score(self, answer: str) -> int:
        """The score an answer stands for, or a clear error for one this question does not take."""
        if answer not in self.answers:
            raise UnknownAnswerError()
        return self.answers[answer]

    def label(self, score: int) -> str:
        """An answer as a reader reads it: "9 / 10", "4 / 5", "Yes"."""
        if self.name == YES_NO:
            return str(_l("Yes") if score else _l("No"))
        return f"{score} / {max(self.answers.values())}"


NPS, SATISFACTION, YES_NO = "nps", "satisfaction", "yes_no"
QUESTIONS = {
    NPS: Question(NPS, {str(n): n for n in range(11)},
                  _l("How likely are you to recommend us to a friend or colleague?")),
    SATISFACTION: Question(SATISFACTION, {str(n): n for n in range(1, 6)},
                           _l("How satisfied are you?")),
    YES_NO: Question(YES_NO, {"yes": 1, "no": 0}, _l("Was this helpful?")),
}
MAX_COMMENT = 2000  # characters: a comment, not a letter


def question_named(name: str) -> Question:
    """The question a link names, or a clear error."""
    if name not in QUESTIONS:
        raise UnknownQuestionError()
    return QUESTIONS[name]


def attribute_name(question: str) -> str:
    """The subscriber attribute that keeps their latest answer to a question (segments read it)."""
    return f"survey_{question}"
