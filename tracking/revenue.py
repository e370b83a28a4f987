"""Revenue: reading a conversion event's amount and currency, and showing sums of them.

An amount is kept in its currency's minor units (yen, cents: ISO 4217's exponent, from Babel's data), an exact
integer. A purchase whose amount cannot be read still counts as a conversion, without revenue, and says why
(``Problem``): the event itself is stored as sent, and the shop sees the reason in the events API's answer and in
the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from typing import Any

from babel.numbers import get_currency_precision, list_currencies
from flask_babel import lazy_gettext as _l

MAX_MINOR = 10**15  # a quadrillion yen: larger is a mistake, and sums stay far inside 64 bits
_DECIMAL_TEXT = re.compile(r"-?\d{1,20}(?:\.\d{1,20})?")  # "1980", "19.99": shops often send prices as text


class Problem(StrEnum):
    """Why a conversion's amount added no revenue."""

    NOT_A_NUMBER = "amount_not_a_number"
    NEGATIVE = "amount_negative"
    TOO_PRECISE = "amount_too_precise"  # more decimals than the currency has (100.5 yen)
    TOO_LARGE = "amount_too_large"
    UNKNOWN_CURRENCY = "unknown_currency"


PROBLEM_LABELS = {
    Problem.NOT_A_NUMBER: _l("amount is not a number"),
    Problem.NEGATIVE: _l("amount is negative"),
    Problem.TOO_PRECISE: _l("amount has more decimals than its currency"),
    Problem.TOO_LARGE: _l("amount is too large"),
    Problem.UNKNOWN_CURRENCY: _l("currency is not an ISO 4217 code"),
}


@dataclass(frozen=True)
class Revenue:
    """What one event adds: an amount in minor units and its currency, or nothing (with the problem, if any)."""

    amount: int | None
    currency: str | None
    problem: Problem | None = None


def read_revenue(properties: dict[str, Any], default_currency: str) -> Revenue:
    """Read ``properties.amount`` (a number, or a decimal as text) and ``properties.currency`` (default: the
    installation's). No amount: no revenue and no problem (a sign-up converts without one)."""
    raw = properties.get("amount")
    if raw is None:
        return Revenue(None, None)
    currency = properties.get("currency", default_currency)
    if not isinstance(currency, str) or currency.strip().upper() not in _currencies():
        return Revenue(None, None, Problem.UNKNOWN_CURRENCY)
    currency = currency.strip().upper()
    minor = _minor_units(raw, currency)
    return Revenue(None, currency, minor) if isinstance(minor, Problem) else Revenue(minor, currency)


def _minor_units(raw: Any, currency: str) -> int | Problem:
    """An amount as a whole number of the currency's minor units, or why it is none."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str) or (
            isinstance(raw, str) and not _DECIMAL_TEXT.fullmatch(raw.strip())):
        return Problem.NOT_A_NUMBER
    try:
        value = Decimal(raw.strip() if isinstance(raw, str) else str(raw))  # str(19.99) is "19.99": no float error
    except InvalidOperation:
        return Problem.NOT_A_NUMBER
    if not value.is_finite():
        return Problem.NOT_A_NUMBER
    if value < 0:
        return Problem.NEGATIVE
    minor = value.scaleb(get_currency_precision(currency))
    if minor != minor.to_integral_value():
        return Problem.TOO_PRECISE
    return Problem.TOO_LARGE if minor > MAX_MINOR else int(minor)


def major(amount: int, currency: str) -> float:
    """An amount in minor units as a number of the currency (1999 cents: 19.99)."""
    return amount / 10 ** get_currency_precision(currency)


@cache
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())
