"""The one layer that reads request input: ids, whole numbers, flags, id lists, JSON bodies and form fields.

Every value a client sends goes through here before it reaches a query, so a number no database column
can hold, a list of the wrong things or a body nested past reason is a 400 (or, in a URL, a 404), never a 500.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from core.errors import NotAChoiceError, NotANumberError, ValidationError

INT64_MAX = 2**63 - 1  # SQLite's INTEGER, PostgreSQL's BIGINT: the most a page or an offset can be
ID_MAX = 2**31 - 1  # ids (and plain number columns) are PostgreSQL INTEGERs: no row has a larger one
MAX_JSON_DEPTH = 32  # nesting of a request body; subscriber attributes are a few levels deep in practice
_WHOLE = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() accepts '²', which int() refuses
# RFC 3339's date-time: a full date and time with seconds and an offset (fromisoformat alone takes far more).
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
                      r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")


def digits_up_to(limit: int) -> str:
    """Return a regular expression matching the decimal numbers 0 to limit (leading zeros allowed)."""
    text = str(limit)
    shorter = [f"[0-9]{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    same_length = [f"{text[:i]}[0-{int(text[i]) - 1}][0-9]{{{len(text) - i - 1}}}"
                   for i in range(len(text)) if text[i] != "0"]
    return "0*(?:" + "|".join([*shorter, *same_length, text]) + ")"


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: 0 to ID_MAX, so an id no row can have matches no route (404), not a query.

    The bound is in the pattern, not only in to_python: werkzeug answers 405 when a path matches a rule of
    another method before a converter refuses the value, and an id that is too large is a 404.
    """

    regex = digits_up_to(ID_MAX)

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", ID_MAX)
        super().__init__(map, *args, **kwargs)


def whole_number(value: Any, field: str, *, minimum: int = 1, maximum: int = INT64_MAX) -> int:
    """Return value (an integer, or its digits as text) as an int in [minimum, maximum], or raise a 400."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value.strip()) if len(value.strip()) <= 20 else None  # 20 digits already exceed 2⁶³
    if number is not None and minimum <= number <= maximum:
        return number
    if (number is None or number < minimum) and (minimum, maximum) == (1, INT64_MAX):
        raise NotANumberError(_("%(name)s must be a whole number of 1 or more.", name=field), field=field)
    raise NotANumberError(_("%(field)s must be a whole number from %(low)s to %(high)s.",
                            field=field, low=minimum, high=maximum), field=field)


def whole_in(value: Any, low: int, high: int) -> int | None:
    """Return a JSON number that is whole (2, or 2.0) and within [low, high] as an int, else None: true, text, 1.5,
    and the Infinity and NaN that Python's JSON parser accepts (int() of them raises) are not whole numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if low <= value <= high else None


def typed_whole_number(value: Any, field: str, *, default: int | None, minimum: int = 1,
                       maximum: int = INT64_MAX) -> int | None:
    """Return a number a person typed (full-width digits too: ５８７), default when empty, else as whole_number."""
    if isinstance(value, str):
        value = unicodedata.normalize("NFKC", value).strip()
    if value is None or value == "":
        return default
    return whole_number(value, field, minimum=minimum, maximum=maximum)


def moment(value: Any, field: str) -> datetime:
    """Return an RFC 3339 time with its offset (2026-05-01T09:00:00+09:00) as UTC, or raise a 400 naming the field."""
    text = value.strip() if isinstance(value, str) else ""
    if _RFC3339.fullmatch(text):
        try:
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
        except (ValueError, OverflowError):  # 2026-02-30, an offset of 24 hours, a UTC time before year 1
            pass
    raise ValidationError(_("%(field)s must be a time with its offset, like 2026-05-01T09:00:00+09:00.",
                            field=field), field=field)


def flag(value: Any, field: str, default: bool | None = None) -> bool:
    """Return a JSON true or false (default when absent, if there is one), or refuse anything else."""
    if value is None and default is not None:
        return default
    if not isinstance(value, bool):
        raise NotAChoiceError(_("%(name)s must be true or false.", name=field), field=field)
    return value


def flag_arg(name: str) -> bool:
    """Tell whether the query parameter ``name`` is set to true (``true`` or ``1``, as listmonk's clients send)."""
    return request.args.get(name, "").strip().lower() in ("true", "1")


def optional_id(value: Any, field: str) -> int | None:
    """Return an optional id: None when empty, else a whole number of 1 or more."""
    return None if value in (None, "") else whole_number(value, field, maximum=ID_MAX)


def id_or_none(value: Any, maximum: int = ID_MAX) -> int | None:
    """Return value as a whole number from 1 to maximum, or None: for UI filters, which ignore what is not one."""
    try:
        return whole_number(value, "id", maximum=maximum)
    except ValidationError:
        return None


def id_list(value: Any, field: str) -> list[int]:
    """Return a list of ids (numbers or their digits), or raise a 400 naming the field; None is no ids."""
    if value is None:
        return []
    if not isinstance(value, list | tuple | set | frozenset):  # not text: "12" is not the ids 1 and 2
        raise ValidationError(_("%(field)s must be a list of ids.", field=field), field=field)
    return [whole_number(item, field, maximum=ID_MAX) for item in value]


def int_arg(name: str, default: int, *, minimum: int = 1, maximum: int = INT64_MAX) -> int:
    """Return the query parameter ``name`` as a whole number, default when absent or empty."""
    raw = request.args.get(name)
    return default if raw in (None, "") else whole_number(raw, name, minimum=minimum, maximum=maximum)


def optional_id_arg(name: str) -> int | None:
    """Return the query parameter ``name`` as an id, None when absent or empty."""
    return optional_id(request.args.get(name), name)


def id_args(name: str) -> list[int]:
    """Return every id given as ``name`` (repeated, or comma-separated as listmonk's clients send them)."""
    return [whole_number(part, name, maximum=ID_MAX) for value in request.args.getlist(name)
            for part in value.split(",") if part.strip()]


def depth(value: Any) -> int:
    """Return how deeply value nests lists and objects (a scalar is 0), without recursing; refuse NUL in text.

    Only lists and objects go on the stack, and an object's keys are checked in one join: walking every value
    through the stack took 50 µs an event of a 1,000-event batch (POST /api/events), more than storing it.
    """
    if not isinstance(value, dict | list):
        refuse_nul(value if isinstance(value, str) else None)
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > deepest:
            deepest = level
            if deepest > MAX_JSON_DEPTH:
                break
        if isinstance(item, dict):
            refuse_nul("".join(item))  # keys of parsed JSON are text
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, str):
                if "\x00" in child:
                    refuse_nul(child)
            elif isinstance(child, dict | list):
                stack.append((child, level + 1))
    return deepest


def refuse_nul(*texts: str | None) -> None:
    """Refuse text with a NUL character: no text column stores one (PostgreSQL refuses it), no name needs one."""
    if any("\x00" in (text or "") for text in texts):
        raise ValidationError(_("Text may not contain the NUL character (\\u0000)."))


def refuse_nul_in_request() -> None:
    """Check the URL, query and form fields of an API call for NUL before any view reads them."""
    from core.api import is_api_request  # core.api reads its numbers through this module

    if is_api_request():
        refuse_nul(request.path, *(text for pair in request.args.items(multi=True) for text in pair))
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            refuse_nul(*(text for pair in request.form.items(multi=True) for text in pair),
                       *(file.filename or "" for file in request.files.values()))


def _too_deep() -> ValidationError:
    return ValidationError(_("The JSON is nested more than %(depth)s levels deep.", depth=MAX_JSON_DEPTH))


def parse_json(text: str | bytes) -> Any:
    """Parse JSON text (ValueError when it is not JSON); a 400 when nested past MAX_JSON_DEPTH or holding NUL."""
    try:
        value = current_app.json.loads(text)  # the app's provider, as request.get_json uses
    except RecursionError:  # nested past what the parser itself takes
        raise _too_deep() from None
    if depth(value) > MAX_JSON_DEPTH:
        raise _too_deep()
    return value


def json_object(text: str | bytes, field: str | None = None) -> dict[str, Any]:
    """Parse text (the body, or the form field named) as a JSON object within the bounds, else a 400."""
    try:
        payload = parse_json(text) if text else None
    except ValueError:
        payload = None
    return checked_object(payload, field)


def checked_object(payload: Any, field: str | None = None) -> dict[str, Any]:
    """Return payload if it is a JSON object, else raise a 400 naming what was expected."""
    if not isinstance(payload, dict):
        if field:
            raise ValidationError(_("%(field)s must be a JSON object.", field=field))
        raise ValidationError(_("Send a JSON object in the request body."))
    return payload


def json_body() -> dict[str, Any]:
    """Return the request's JSON object (sent as application/json), or raise a 400 saying one is needed."""
    return json_object(request.get_data(cache=True)) if request.is_json else checked_object(None)


def body_fields() -> dict[str, Any]:
    """Return the request's fields: its JSON object, or its form fields (listmonk's previews post forms)."""
    return json_body() if request.is_json else request.form.to_dict()


def init_app(app: Flask) -> None:
    """Bound every ``<int:…>`` route parameter; call before any route is added (rules bind converters then)."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_nul_in_request)
