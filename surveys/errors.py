"""The failures of survey answers, named (each a kind of core/errors.py, so it is answered with its status)."""

from __future__ import annotations

from flask_babel import gettext as _

from core.errors import NotFoundError, ValidationError


class UnknownQuestionError(NotFoundError):
    """A survey link whose question is none of the kinds a block asks."""

    def __init__(self) -> None:
        super().__init__(_("This survey link names a question Kairan does not know."), field="question")


class UnknownAnswerError(ValidationError):
    """A survey link whose answer the question does not take (a link edited by hand)."""

    def __init__(self) -> None:
        super().__init__(_("This survey link has an answer the question does not take."), field="answer")


class UnknownReaderError(NotFoundError):
    """A signed delivery that is no longer there (its campaign deleted, or its reader wiped)."""

    def __init__(self) -> None:
        super().__init__(_("This survey is closed: the message it came in is no longer kept."))


class CommentTooLongError(ValidationError):
    """A comment past MAX_COMMENT characters."""

    def __init__(self, limit: int) -> None:
        super().__init__(_("A comment has at most %(n)d characters.", n=limit), field="comment")
