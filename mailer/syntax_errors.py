"""Jinja's syntax errors said in the editor's language, on the line where the mistake is.

Jinja reports where its parser gave up: an unclosed ``{{`` on line 5 is reported on line 7, where
the next tag or the end of the template made the expression impossible, and in English. The
line here is the one of the tag that was never closed, when there is one before the error.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext as _
from jinja2 import TemplateSyntaxError

DELIMITER = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")
CLOSES = {"{{": "}}", "{%": "%}", "{#": "#}"}
BLOCK_TAG = re.compile(r"\{%[-+]?\s*(\w+)")
OPENERS = {"if", "for", "block", "macro", "call", "filter", "with", "raw", "autoescape", "trans"}
# How Jinja names tokens in its messages, and what the editor typed for them.
TOKENS = {"end of print statement": "}}", "end of statement block": "%}", "begin of print statement": "{{",
          "begin of statement block": "{%", "end of template": "EOF"}


def _line(source: str, position: int) -> int:
    return source.count("\n", 0, position) + 1


def unclosed_tag(source: str) -> tuple[str, int] | None:
    """Return the first ``{{``, ``{%`` or ``{#`` that another tag or the end comes before its closing, with its line."""
    opened: tuple[str, int] | None = None
    for match in DELIMITER.finditer(source):
        token = match[0]
        if token in CLOSES:
            if opened is not None:
                return opened
            opened = token, match.start()
        elif opened is not None and CLOSES[opened[0]] == token:
            opened = None
    return opened


def unclosed_block_line(source: str) -> int | None:
    """Return the line of the innermost block a template never closes (Jinja reports the end instead)."""
    opened: list[tuple[str, int]] = []
    for match in BLOCK_TAG.finditer(source):
        tag = match[1]
        if tag in OPENERS:
            opened.append((tag, _line(source, match.start())))
        elif tag.startswith("end") and opened and opened[-1][0] == tag[3:]:
            opened.pop()
    return opened[-1][1] if opened else None


def _token(description: str) -> str:
    return TOKENS.get(description, description)


# Jinja's messages (re.match on its English) and how to say them.
MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"Unexpected end of template\..*innermost block that needs to be closed is '(\w+)'", re.DOTALL),
     lambda m: _("“{%% %(tag)s %%}” is never closed: add “{%% end%(tag)s %%}”.", tag=m[1])),
    (re.compile(r"Encountered unknown tag '(\w+)'\..*innermost block that needs to be closed is '(\w+)'", re.DOTALL),
     lambda m: _("“{%% %(tag)s %%}” does not close the open “{%% %(block)s %%}”.", tag=m[1], block=m[2])),
    (re.compile(r"Encountered unknown tag '(\w+)'"), lambda m: _("There is no tag “%(tag)s”.", tag=m[1])),
    (re.compile(r"unexpected end of template, expected '(.+)'"),
     lambda m: _("The template ends where “%(expected)s” was expected.", expected=_token(m[1]))),
    (re.compile(r"expected token '(.+)', got '(.+)'"),
     lambda m: _("“%(expected)s” was expected, not “%(found)s”.", expected=_token(m[1]), found=_token(m[2]))),
    (re.compile(r"Expected an expression, got '(.+)'"),
     lambda m: _("A value is missing before “%(found)s”.", found=_token(m[1]))),
    (re.compile(r"unexpected char '(.+)' at \d+"), lambda m: _("Unexpected character “%(found)s”.", found=m[1])),
    (re.compile(r"unexpected '(.+)'"), lambda m: _("Unexpected “%(found)s”.", found=_token(m[1]))),
    (re.compile(r"Missing end of comment tag"), lambda m: _("A comment “{#” is never closed with “#}”.")),
]


def _explain(message: str) -> str:
    """Say Jinja's message in the UI's language (its own words, quoted, when it is not one of MESSAGES)."""
    for pattern, say in MESSAGES:
        if found := pattern.match(message):
            return say(found)
    return _("Syntax error (%(detail)s).", detail=message)


def explain(error: TemplateSyntaxError, source: str) -> tuple[int, str]:
    """Return the line a syntax error is really on and what it is, in the UI's language."""
    line = error.lineno
    unclosed = unclosed_tag(source)
    if unclosed is not None and _line(source, unclosed[1]) <= line:
        opener = unclosed[0]
        return _line(source, unclosed[1]), _("“%(open)s” is not closed with “%(close)s”.", open=opener,
                                              close=CLOSES[opener])
    if "end of template" in (error.message or ""):
        line = unclosed_block_line(source) or line
    return line, _explain(error.message or "")
