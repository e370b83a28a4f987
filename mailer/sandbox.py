"""Personalisation: the sandboxed Jinja environments and the checks a template passes when it is saved.

Editors write ``{{ subscriber.name }}``, ``{{ subscriber.attribs.city | default('お客様') }}``
and helpers such as ``{{ unsubscribe_url }}``. Templates run in an immutable sandbox with
autoescape (HTML) and are checked when saved: a syntax error is refused with its line; a
reach outside the sandbox (``''.__class__``, ``config``, ``request``) is refused with the
reason; a name Kairan does not provide is a warning (it renders empty when sent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_datetime
from flask_babel import gettext as _
from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
    ImmutableSandboxedEnvironment,
)

from mailer.errors import TemplateError
from mailer.listmonk_syntax import from_listmonk

# What a message's template can use; anything else is unknown (a warning, empty when sent).
CONTEXT_NAMES = {
    "subscriber": {"id", "uuid", "email", "name", "attribs", "status", "first_name", "last_name"},
    "campaign": {"id", "uuid", "name", "subject"},
    "list": {"id", "uuid", "name"},
    "sender": {"name", "address", "contact"},
    "tx": {"data"},
}
HELPER_NAMES = {"content", "unsubscribe_url", "preferences_url", "optin_url", "archive_url", "track_view",
                "preheader", "lang", "today", "links"}
# Names that would reach the application if a context ever carried them: refused outright.
FORBIDDEN_NAMES = {"config", "request", "session", "g", "self", "url_for", "get_flashed_messages", "app",
                   "current_app", "os", "sys", "builtins", "__builtins__", "globals", "locals", "cycler",
                   "joiner", "namespace", "lipsum"}
UNSAFE_ATTRIBUTES = (UNSAFE_FUNCTION_ATTRIBUTES | UNSAFE_METHOD_ATTRIBUTES | UNSAFE_GENERATOR_ATTRIBUTES
                     | UNSAFE_COROUTINE_ATTRIBUTES | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
                     | {"mro", "format", "format_map", "gi_frame", "f_globals"})

_missing: ContextVar[set[str] | None] = ContextVar("kairan_missing_names", default=None)


class MessageUndefined(ChainableUndefined):
    """A missing value renders empty (chains too: ``subscriber.attribs.a.b``) and is noted for the preview."""

    __slots__ = ()

    def __str__(self) -> str:
        noted = _missing.get()
        if noted is not None and self._undefined_name is not None:
            noted.add(self._undefined_name)
        return ""


@pass_context
def _date(context: Context, value: Any, format: str = "medium", lang: str | None = None) -> str:
    """Format a date or datetime (or ISO text) in the message's language: ``{{ x | date('long') }}``."""
    lang = lang or context.get("lang") or "ja"
    if isinstance(value, str):
        try:
            value = (date.fromisoformat if len(value) == 10 else datetime.fromisoformat)(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return format_datetime(value, format, locale=lang)
    if isinstance(value, date):
        return format_date(value, format, locale=lang)
    return "" if value is None else str(value)


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=MessageUndefined,
                                        keep_trailing_newline=True)
    env.globals.clear()  # no range, dict, lipsum, cycler … a newsletter needs none of them
    env.filters["date"] = _date
    return env


HTML_ENV = _environment(autoescape=True)
TEXT_ENV = _environment(autoescape=False)


@dataclass
class Checked:
    """A template that can be saved: its Jinja source and the warnings to show."""

    source: str
    warnings: list[str] = field(default_factory=list)


def _nodes(tree: nodes.Node, kind: type[nodes.Node]) -> Iterator[Any]:
    return tree.find_all(kind)


def _refuse(message: str, node: nodes.Node) -> TemplateError:
    return TemplateError(_("Line %(line)d: %(message)s", line=node.lineno, message=message), node.lineno)


BLOCK_TAG = re.compile(r"\{%[-+]?\s*(\w+)")
OPENERS = {"if", "for", "block", "macro", "call", "filter", "with", "raw", "autoescape", "trans"}


def _unclosed_block_line(source: str) -> int | None:
    """Return the line of the innermost block a template never closes (Jinja reports the end instead)."""
    opened: list[tuple[str, int]] = []
    for match in BLOCK_TAG.finditer(source):
        tag = match[1]
        if tag in OPENERS:
            opened.append((tag, source.count("\n", 0, match.start()) + 1))
        elif tag.startswith("end") and opened and opened[-1][0] == tag[3:]:
            opened.pop()
    return opened[-1][1] if opened else None


def check_source(source: str, *, known: set[str] | None = None) -> Checked:
    """Translate listmonk syntax, parse, and refuse sandbox escapes; return the Jinja and its warnings."""
    source = from_listmonk(source)
    try:
        tree = HTML_ENV.parse(source)
    except TemplateSyntaxError as error:
        line = _unclosed_block_line(source) if "end of template" in (error.message or "") else None
        line = line or error.lineno
        raise TemplateError(_("Line %(line)d: %(message)s", line=line, message=error.message or ""), line) from None
    for node in _nodes(tree, nodes.Getattr):
        if node.attr.startswith("_") or node.attr in UNSAFE_ATTRIBUTES:
            raise _refuse(_("“%(name)s” is not allowed in a template.", name=node.attr), node)
    for node in _nodes(tree, nodes.Getitem):
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) and (
                node.arg.value.startswith("_") or node.arg.value in UNSAFE_ATTRIBUTES):
            raise _refuse(_("“%(name)s” is not allowed in a template.", name=node.arg.value), node)
    assigned = {n.name for n in _nodes(tree, nodes.Name) if n.ctx in ("store", "param")}
    warnings: list[str] = []
    allowed = set(CONTEXT_NAMES) | HELPER_NAMES | (known or set())
    for node in _nodes(tree, nodes.Name):
        if node.ctx != "load" or node.name in assigned:
            continue
        if node.name in FORBIDDEN_NAMES or node.name.startswith("_"):
            raise _refuse(_("“%(name)s” is not available to templates.", name=node.name), node)
        if node.name not in allowed:
            warnings.append(_("Line %(line)d: unknown variable “%(name)s” (it will be empty).",
                              line=node.lineno, name=node.name))
    for node in _nodes(tree, nodes.Getattr):
        fields = CONTEXT_NAMES.get(node.node.name) if isinstance(node.node, nodes.Name) else None
        if fields is not None and node.attr not in fields:
            warnings.append(_("Line %(line)d: unknown variable “%(name)s” (it will be empty).",
                              line=node.lineno, name=f"{node.node.name}.{node.attr}"))
    return Checked(source, sorted(set(warnings), key=warnings.index))


class MissingNames:
    """Collect the names a render could not find (``with MissingNames() as names: …``)."""

    def __enter__(self) -> set[str]:
        self.names: set[str] = set()
        self._token = _missing.set(self.names)
        return self.names

    def __exit__(self, *exc: object) -> None:
        _missing.reset(self._token)
