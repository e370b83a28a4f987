"""Personalisation: the sandboxed Jinja environments and the checks a template passes when it is saved.

Editors write ``{{ subscriber.name }}``, ``{{ subscriber.attribs.city | default('お客様') }}``
and helpers such as ``{{ unsubscribe_url }}``. Templates run in an immutable sandbox with
autoescape (HTML) and are checked when saved: a syntax error is refused with its line; a
reach outside the sandbox (``''.__class__``, ``config``, ``request``) is refused with the
reason; a name Kairan does not provide is a warning (it renders empty when sent). Every render
stays within mailer/limits.py's bounds, and saving refuses what the template's constants show
must go past them (``range(10**9)``, ``'A' * 2000000000``), naming the line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import wraps
from typing import Any

import jinja2
from babel.dates import format_date, format_datetime
from flask_babel import gettext as _
from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, nodes, pass_context
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
    ImmutableSandboxedEnvironment,
)

from mailer import limits, syntax_errors
from mailer.errors import RenderError, TemplateError
from mailer.limits import RenderLimitError
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
                "preheader", "lang", "today", "links", "range"}
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


# What a render may fail with besides the limits: the reader's data meets the template (1/0, int('x')), and
# NameError from Jinja's own code for a constant it writes back as a name (1e999 becomes ``inf``).
RENDER_FAILURES = (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError, RecursionError,
                   NameError)


class BoundedTemplate(Template):
    """A template whose render stays within its budget (mailer/limits.py) and fails as a RenderError."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        """Render within the limits; a failure says why, for the editor or the delivery's record."""
        values = dict(*args, **kwargs)
        values.setdefault("range", limits.bounded_range)  # not a global: Jinja copies non-empty globals per render
        context = self.new_context(values)
        try:
            return limits.render(self.root_render_func(context))
        except RenderError:
            raise
        except RENDER_FAILURES as error:
            raise RenderError(_("The template cannot be rendered: %(error)s", error=error)) from error


def _bounded_filter(filter_: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that counts towards the render's time and whose result is held to the size limits."""
    @wraps(filter_)  # keeps Jinja's pass_context / pass_eval_context mark
    def bounded(*args: Any, **kwargs: Any) -> Any:
        limits.budget().tick()
        return limits.checked(filter_(*args, **kwargs))
    return bounded


def _center(value: Any, width: int = 80) -> str:
    limits.padded(width)
    return FILTERS["center"](value, width)


def _indent(text: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    limits.padded((len(width) if isinstance(width, str) else width) * (str(text).count("\n") + 1))
    return FILTERS["indent"](text, width, first, blank)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    limits.check_format(str(value), tuple(kwargs.values()) or args)
    return FILTERS["format"](value, *args, **kwargs)


@jinja2.pass_eval_context
def _replace(eval_ctx: Any, text: str, old: str, new: str, count: int | None = None) -> str:
    limits.check_replace(text, old, new, count)
    return FILTERS["replace"](eval_ctx, text, old, new, count)


@jinja2.pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    items = list(value)
    limits.check_join(d, items)
    return FILTERS["join"](eval_ctx, items, d, attribute)


# The filters that can make a long text in one step, checked before they run.
SIZED_FILTERS = {"center": _center, "indent": _indent, "format": _format, "replace": _replace, "join": _join}
LOOP_FILTER = "kairan_loop"  # what every {% for %} iterates through (see _parse)
TEXT_FILTER = "kairan_text"  # what every ~ concatenation goes through
COUNT_FILTER = "kairan_written"  # what the outputs _count_outputs picks go through


# Where outputs are buffered or repeated: each of their outputs counts towards the text a render makes.
REPEATING = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.AssignBlock)


def _reads_context(node: nodes.Node, assigned: set[str]) -> bool:
    """Whether an expression only reads the render's context (``subscriber.name``, ``links[3]``)."""
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Const):
            return False
        node = node.node
    return isinstance(node, nodes.Name) and node.name not in assigned


def _count_outputs(node: nodes.Node, assigned: set[str], repeating: bool = False) -> None:
    """Route the outputs that can add up to much text through COUNT_FILTER: all of them in loops, macros
    and blocks; elsewhere those of values the template makes. An output that only reads the context
    (most of a newsletter's) is written once and costs nothing extra."""
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Output):
            child.nodes = [part if isinstance(part, nodes.TemplateData)
                           or (not repeating and _reads_context(part, assigned))
                           else nodes.Filter(part, COUNT_FILTER, [], [], None, None, lineno=part.lineno)
                           for part in child.nodes]
        _count_outputs(child, assigned, repeating or isinstance(child, REPEATING))


class MessageEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with mailer/limits.py's bounds: operators, calls, filters, loops and output."""

    template_class = BoundedTemplate
    intercepted_binops = frozenset(limits.SIZED_OPERATORS)  # also keeps Jinja from folding 'A' * 2000000000

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then route every loop and every ``~`` through a filter that keeps them within the limits."""
        tree = super()._parse(source, name, filename)
        _count_outputs(tree, {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")})
        for loop in tree.find_all(nodes.For):
            # The text the body writes each run (its inner loops' too: counting it again errs on the safe side).
            written = sum(len(data.data) for node in loop.body for data in node.find_all(nodes.TemplateData))
            written += sum(len(const.value) for node in loop.body for const in node.find_all(nodes.Const)
                           if isinstance(const.value, str))
            loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [nodes.Const(written)], [], None, None,
                                     lineno=loop.lineno)
        for concat in list(tree.find_all(nodes.Concat)):
            concat.nodes = [nodes.Filter(nodes.Concat(concat.nodes, lineno=concat.lineno), TEXT_FILTER, [], [],
                                         None, None, lineno=concat.lineno)]
        return tree

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """``*``, ``**``, ``%`` and ``+`` within the size limits."""
        limits.budget().tick()
        return limits.binop(operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Call within the time budget; text methods that can make a long text are checked first."""
        limits.budget().tick()
        args = limits.check_method(__obj, args, kwargs)
        return limits.checked(super().call(__context, __obj, *args, **kwargs))

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """What saving refuses is refused when rendering too (a name built at render time: ``s['for' ~ 'mat']``)."""
        return attr not in UNSAFE_ATTRIBUTES and super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        """No ``str.format`` at all (its widths could make any size): is_safe_attribute refuses it."""
        return None


def _environment(autoescape: bool) -> MessageEnvironment:
    env = MessageEnvironment(autoescape=autoescape, undefined=MessageUndefined, keep_trailing_newline=True)
    env.globals.clear()  # no dict, lipsum, cycler … a newsletter needs none of them; range: BoundedTemplate
    env.filters["date"] = _date
    env.filters.update(SIZED_FILTERS)
    env.filters.update({name: _bounded_filter(filter_) for name, filter_ in env.filters.items()})
    env.filters[LOOP_FILTER] = limits.loop
    env.filters[TEXT_FILTER] = limits.checked
    env.filters[COUNT_FILTER] = limits.written
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


_UNKNOWN = object()  # a value only the render knows


def _operands(node: nodes.Node) -> list[nodes.Node] | None:
    """The parts of an expression that can be worked out before a render, or None."""
    if isinstance(node, nodes.Tuple | nodes.List):
        return list(node.items)
    if isinstance(node, nodes.Neg | nodes.Pos):
        return [node.node]
    if isinstance(node, nodes.BinExpr):
        return [node.left, node.right]
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range" \
            and not (node.kwargs or node.dyn_args or node.dyn_kwargs):
        return list(node.args)
    if isinstance(node, nodes.Filter) and node.name in SIZED_FILTERS and node.node is not None \
            and not (node.kwargs or node.dyn_args or node.dyn_kwargs):
        return [node.node, *node.args]
    return None


def _apply(node: nodes.Node, values: list[Any]) -> Any:
    if isinstance(node, nodes.Tuple | nodes.List):
        return tuple(values) if isinstance(node, nodes.Tuple) else values
    if isinstance(node, nodes.Neg | nodes.Pos):
        return -values[0] if isinstance(node, nodes.Neg) else values[0]
    if isinstance(node, nodes.Call):
        return limits.bounded_range(*values)
    if isinstance(node, nodes.Filter):
        bounded = HTML_ENV.filters[node.name]
        # The sized filters that take Jinja's evaluation context (replace, join) are marked so by pass_eval_context.
        passes = (nodes.EvalContext(HTML_ENV),) if getattr(bounded, "jinja_pass_arg", None) else ()
        return bounded(*passes, *values)
    operator = str(getattr(node, "operator", ""))
    if operator in limits.SIZED_OPERATORS:
        return limits.binop(operator, *values)
    return HTML_ENV.binop_table[operator](*values)


def _constant(node: nodes.Node) -> Any:
    """Return what an expression of constants comes to, through the same bounded operations as a render."""
    if isinstance(node, nodes.Filter) and node.name in (LOOP_FILTER, TEXT_FILTER, COUNT_FILTER) \
            and node.node is not None:
        return _constant(node.node)
    if isinstance(node, nodes.Const):
        return node.value
    parts = _operands(node)
    values = [_constant(part) for part in parts or ()]
    if parts is None or _UNKNOWN in values:
        return _UNKNOWN
    try:
        return _apply(node, values)
    except (TypeError, ValueError, ArithmeticError):
        return _UNKNOWN  # the render says what is wrong with it


def _check_constants(tree: nodes.Template) -> None:
    """Refuse, naming the line, an expression of constants that goes past the limits (``range(10**9)``)."""
    for node in tree.find_all((nodes.BinExpr, nodes.Call, nodes.Filter)):
        try:
            _constant(node)
        except RenderLimitError as error:
            raise _refuse(error.message, node) from None


def _check_loops(node: nodes.Node, runs: int = 1) -> None:
    """Refuse loops over constants (nested ones multiply) that would run past the render's limit."""
    for child in node.iter_child_nodes():
        inner = runs
        if isinstance(child, nodes.For):
            items = _constant(child.iter)
            inner = runs * (len(items) if isinstance(items, range | list | tuple | str) else 1)
            if inner > limits.MAX_LOOP_ITERATIONS:
                raise _refuse(_("These loops would run %(runs)s times; the limit is %(limit)s.",
                                runs=f"{inner:,}", limit=f"{limits.MAX_LOOP_ITERATIONS:,}"), child)
        _check_loops(child, inner)


def check_source(source: str, *, known: set[str] | None = None) -> Checked:
    """Translate listmonk syntax, parse, and refuse sandbox escapes; return the Jinja and its warnings."""
    source = from_listmonk(source)
    try:
        tree = HTML_ENV.parse(source)
    except TemplateSyntaxError as error:
        line, message = syntax_errors.explain(error, source)
        raise TemplateError(_("Line %(line)d: %(message)s", line=line, message=message), line) from None
    with limits.budgeted():  # working the constants out has the budget of one render
        _check_constants(tree)
        _check_loops(tree)
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
