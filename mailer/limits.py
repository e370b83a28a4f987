"""What one render of a template may cost: the bounds the sandbox (mailer/sandbox.py) enforces.

A template is code its editors write, run for every reader in web processes and RQ workers. A
single Python operation cannot be interrupted once it runs, so the operations that can make a
huge value in one step (``*`` on text and sequences, ``**``, ``%`` widths, ``range``, padding,
``replace``, ``join``) are checked before they run; everything a render makes is measured as it
is made (each ``{{ … }}`` output, each loop run's text); and the processor time a render has
taken is looked at in the loop, call, filter and operator hooks, so no render runs past its
budget (no signal: renders run in threads). Saving uses the same checks on what the template's
constants show (mailer/sandbox.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from mailer.errors import RenderError

# A newsletter is 30–100 KB of HTML and Gmail clips past 102 KB; ten times that is still no
# real message, and a text this long costs at most a few MB of memory.
MAX_TEXT_CHARS = 1_000_000
# Items of a list, tuple or range a template makes: Jinja's own sandbox allows 100,000 in range().
MAX_ITEMS = 100_000
# Loop bodies run in one render, all loops together (nested loops multiply): a newsletter loops
# over a reader's few items; 100,000 runs take well under the time budget.
MAX_LOOP_ITERATIONS = 100_000
# Size of a ** result: 10,000 bits are 3,000 digits, more than any arithmetic a message needs and
# under Python's 4,300-digit limit for printing an int; 3**(3**16) would take minutes of CPU.
MAX_POWER_BITS = 10_000
# Text made during one render, counted as it is made: memory stays in tens of MB whatever the
# template does (twenty full-size texts).
MAX_MADE_CHARS = 20 * MAX_TEXT_CHARS
# Processor time of one render (this thread's, so other threads and a busy machine do not count).
# A render costs 0.1–0.5 ms; one second is thousands of times that, short enough that a preview
# still answers and a worker goes on sending, long before gunicorn's 30 s timeout.
MAX_RENDER_SECONDS = 1.0
# Hook calls between readings of the clock (a reading costs about a microsecond; each event is
# itself bounded by the size limits, so a render stops at most a few milliseconds late).
CLOCK_EVERY = 16

FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")


class RenderLimitError(RenderError):
    """A template that goes past one of the limits; the message names the limit."""


def _too_long(size: int) -> RenderLimitError:
    return RenderLimitError(_("The template makes a text of %(size)s characters; the limit is %(limit)s.",
                              size=f"{size:,}", limit=f"{MAX_TEXT_CHARS:,}"))


def _too_many(size: int) -> RenderLimitError:
    return RenderLimitError(_("The template makes a list of %(size)s items; the limit is %(limit)s.",
                              size=f"{size:,}", limit=f"{MAX_ITEMS:,}"))


@dataclass(slots=True)
class Budget:
    """What one render has spent so far: processor time, loop runs and text made."""

    deadline: float | None = None  # this thread's processor time at which the render must stop
    events: int = 0
    loops: int = 0
    made: int = 0

    def tick(self) -> None:
        """Refuse to go on once the render's time is up (the clock is read every CLOCK_EVERY events)."""
        self.events += 1
        if self.events % CLOCK_EVERY:
            return
        now = time.thread_time()
        if self.deadline is None:  # the first reading starts the budget
            self.deadline = now + MAX_RENDER_SECONDS
        elif now > self.deadline:
            raise RenderLimitError(_("The template took longer than %(seconds)s s to render (the limit).",
                                     seconds=f"{MAX_RENDER_SECONDS:g}"))

    def make(self, chars: int) -> None:
        """Count text made; refuse past the render's allowance."""
        self.made += chars
        if self.made > MAX_MADE_CHARS:
            raise RenderLimitError(_("The template makes more than %(limit)s characters of text in one render "
                                     "(the limit).", limit=f"{MAX_MADE_CHARS:,}"))
        self.tick()


_budget: ContextVar[Budget | None] = ContextVar("kairan_render_budget", default=None)


def budget() -> Budget:
    """The budget of the render running in this thread (outside a render, a new one)."""
    return _budget.get() or Budget()


@contextmanager
def budgeted() -> Iterator[Budget]:
    """Run a render (or the checks at save, which work out constants) within a new budget."""
    spent = Budget()
    token = _budget.set(spent)
    try:
        yield spent
    finally:
        _budget.reset(token)


def render(chunks: Iterable[str]) -> str:
    """Join a render's output within a new budget, and hold the result to the size limit.

    The parts are not measured one by one (a message has a hundred or more: that would cost a third
    of a render): what could make them large is counted where it is made, in written() and loop().
    """
    token = _budget.set(Budget())
    try:
        text = "".join(chunks)  # a render's generator: it runs here, within the budget
    finally:
        _budget.reset(token)
    if len(text) > MAX_TEXT_CHARS:
        raise RenderLimitError(_("The message would be longer than %(limit)s characters (the limit).",
                                 limit=f"{MAX_TEXT_CHARS:,}"))
    return text


def written(value: Any) -> Any:
    """Count one ``{{ … }}`` output towards the text a render makes (outputs in loops, macros and blocks,
    and outputs of values the template made: mailer/sandbox.py picks them)."""
    budget().make(len(value) if isinstance(value, str) else estimated_chars(value))
    return value


def estimated_chars(value: Any, limit: int = MAX_TEXT_CHARS) -> int:
    """Estimate the characters a value prints as (stops counting past ``limit``)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | set | frozenset | dict):
        total = 2
        for item in value.items() if isinstance(value, dict) else value:
            total += estimated_chars(item, limit) + 2
            if total > limit:
                break
        return total
    return 24  # numbers, dates, None: short


def checked(value: Any) -> Any:
    """Refuse a value past the size limits; count text towards the render's allowance."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise _too_long(len(value))
        budget().make(len(value))
    elif isinstance(value, list | tuple | range) and len(value) > MAX_ITEMS:
        raise _too_many(len(value))
    return value


def _repeat(sequence: Any, times: int) -> Any:
    if isinstance(sequence, str):
        if len(sequence) * times > MAX_TEXT_CHARS:
            raise _too_long(len(sequence) * times)
    else:
        if len(sequence) * times > MAX_ITEMS:
            raise _too_many(len(sequence) * times)
        if estimated_chars(sequence) * times > MAX_TEXT_CHARS:  # a list that prints past the text limit
            raise _too_long(estimated_chars(sequence) * times)
    return sequence * times


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0 \
            and exponent * base.bit_length() > MAX_POWER_BITS:
        raise RenderLimitError(_("The template computes a power of more than %(limit)s bits (the limit).",
                                 limit=f"{MAX_POWER_BITS:,}"))
    return base**exponent


def check_format(pattern: str, values: Any) -> None:
    """Refuse a %-format whose widths or precisions would make a text past the limit."""
    numbers = [v for v in (values if isinstance(values, tuple) else (values,)) if isinstance(v, int)]
    for width, precision in FORMAT_SPEC.findall(pattern):
        for size in (width, precision):
            wanted = max(numbers, default=0) if size == "*" else int(size or 0)
            if wanted > MAX_TEXT_CHARS:
                raise _too_long(wanted)


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        check_format(left, right)
    return left % right


SIZED_OPERATORS = {"*", "**", "%", "+"}


def binop(operator: str, left: Any, right: Any) -> Any:
    """Apply one of SIZED_OPERATORS within the limits."""
    if operator == "*":
        if isinstance(right, int) and isinstance(left, str | list | tuple):
            return checked(_repeat(left, right))
        if isinstance(left, int) and isinstance(right, str | list | tuple):
            return checked(_repeat(right, left))
        return left * right
    if operator == "**":
        return _power(left, right)
    if operator == "%":
        return checked(_modulo(left, right))
    return checked(left + right)


def bounded_range(*args: int) -> range:
    """``range`` for templates, of at most MAX_ITEMS numbers."""
    numbers = range(*args)
    if len(numbers) > MAX_ITEMS:
        raise RenderLimitError(_("range() of %(size)s numbers goes past the limit of %(limit)s.",
                                 size=f"{len(numbers):,}", limit=f"{MAX_ITEMS:,}"))
    return numbers


def loop(iterable: Iterable[Any], body_chars: int = 0) -> Iterator[Any]:
    """Run a template's ``for`` loop within the render's budget: its runs, its time, and the text its
    body writes each run (``body_chars``)."""
    spent = budget()
    for item in iterable:
        spent.loops += 1
        if spent.loops > MAX_LOOP_ITERATIONS:
            raise RenderLimitError(_("The template's loops run more than %(limit)s times (the limit).",
                                     limit=f"{MAX_LOOP_ITERATIONS:,}"))
        spent.make(body_chars)
        yield item


def _joined_size(separator: str, items: list[Any]) -> int:
    return sum(estimated_chars(item) for item in items) + len(separator) * max(len(items) - 1, 0)


def _replaced_size(text: str, old: str, new: str, count: int | None = None) -> int:
    found = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def padded(width: Any) -> None:
    """Refuse padding (center, ljust, rjust, zfill, indent) to a width past the text limit."""
    if isinstance(width, int) and width > MAX_TEXT_CHARS:
        raise _too_long(width)


def check_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check a call of a text method that can make a long text in one step; return its arguments."""
    text = getattr(method, "__self__", None)
    if not isinstance(text, str) or not args:
        return args
    name = getattr(method, "__name__", "")
    if name in ("center", "ljust", "rjust", "zfill"):
        padded(args[0])
    elif name == "expandtabs" and isinstance(args[0], int):
        if len(text) + text.count("\t") * args[0] > MAX_TEXT_CHARS:
            raise _too_long(len(text) + text.count("\t") * args[0])
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        size = _replaced_size(text, args[0], args[1], *(a for a in args[2:3] if isinstance(a, int)))
        if size > MAX_TEXT_CHARS:
            raise _too_long(size)
    elif name == "join":
        items = list(args[0])
        if _joined_size(text, items) > MAX_TEXT_CHARS:
            raise _too_long(_joined_size(text, items))
        return (items, *args[1:])
    return args


def check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    """The replace filter's check (the same as str.replace's)."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        size = _replaced_size(text, old, new, count if isinstance(count, int) else None)
        if size > MAX_TEXT_CHARS:
            raise _too_long(size)


def check_join(separator: str, items: list[Any]) -> None:
    """The join filter's check."""
    if _joined_size(separator, items) > MAX_TEXT_CHARS:
        raise _too_long(_joined_size(separator, items))
