"""listmonk's subscriber queries (SQL expressions), translated into segment rules; never run as SQL.

listmonk clients look subscribers up with a WHERE-clause fragment such as
``subscribers.email='taro@example.com'`` or ``subscribers.attribs->>'city' ILIKE '%阪%'``.
sqlglot parses it (PostgreSQL's grammar, which listmonk's queries are written in), and a
whitelisted subset becomes the rule groups of lists/segments.py, compiled to SQLAlchemy for
SQLite and PostgreSQL alike: the subscriber's columns (with or without ``subscribers.``),
attributes read with ``->>`` (``attribs->'a'->>'b'`` for nested ones), comparisons, LIKE and
ILIKE, IN, BETWEEN, IS [NOT] NULL, AND, OR, NOT, parentheses and string, number and boolean
literals, and numeric casts of attributes (``(attribs->>'age')::int > 30``). Anything else
(subqueries, functions, other tables, several statements) is refused, naming the part.
"""

from __future__ import annotations

import ast
from typing import Any

import sqlglot
from flask_babel import gettext as _
from sqlglot import exp
from sqlglot.errors import SqlglotError

from lists.errors import RuleError
from lists.segment_expressions import parse_expression
from lists.segment_rules import MAX_RULES

MAX_QUERY = 20_000  # characters: room for an IN list of a thousand ids
MAX_NESTING = 16  # parentheses inside parentheses; deeper is refused before parsing (no recursion to exhaust)

# listmonk's subscriber columns → Kairan's rule fields (email is compared case-folded, as Kairan keys it).
COLUMNS = {"id": "id", "uuid": "uuid", "email": "email", "name": "name", "status": "status",
           "created_at": "created_at", "updated_at": "updated_at"}
ALWAYS_SET = frozenset(COLUMNS)  # NOT NULL columns: IS NULL is false for every subscriber
COMPARISONS = {exp.EQ: "eq", exp.NEQ: "ne", exp.GT: "gt", exp.GTE: "gte", exp.LT: "lt", exp.LTE: "lte"}
MIRRORED = {"eq": "eq", "ne": "ne", "gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}  # 1 < x is x > 1
NUMERIC_TYPES = frozenset({exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT,
                           exp.DataType.Type.DECIMAL, exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT})
MOMENT_TYPES = frozenset({exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ})
TRUE: dict[str, Any] = {"match": "all", "rules": []}
FALSE: dict[str, Any] = {"match": "any", "rules": []}


class _Field:
    """The left side of a comparison: a rule field, and for attributes their path and whether cast to a number."""

    def __init__(self, field: str, path: list[str] | None = None, numeric: bool = False) -> None:
        self.field, self.path, self.numeric = field, path, numeric

    def rule(self, op: str, value: Any, kind: str | None = None) -> dict[str, Any]:
        rule: dict[str, Any] = {"field": self.field, "op": op, "value": value}
        if self.path is not None:
            rule.update(path=self.path, type=kind or "text")
        return rule


def _refuse(node: exp.Expr) -> RuleError:
    return RuleError(_("“%(part)s” is not allowed in a query: use the subscriber's columns, attribs->>'key', "
                             "comparisons, LIKE, ILIKE, IN, IS NULL, AND, OR, NOT and literals.",
                             part=node.sql(dialect="postgres")[:200]))


def _unwrap(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _path(node: exp.Expr) -> list[str]:
    """The keys of attribs->'a'->'b' (an attribute object, not yet its text)."""
    if isinstance(node, exp.Column):
        _column_name(node, attribute=True)
        return []
    if isinstance(node, exp.JSONExtract):
        return _path(node.this) + _keys(node)
    raise _refuse(node)


def _keys(node: exp.JSONExtract | exp.JSONExtractScalar) -> list[str]:
    keys = node.expression.expressions[1:] if isinstance(node.expression, exp.JSONPath) else []
    if not keys or not all(isinstance(key, exp.JSONPathKey) and isinstance(key.this, str) for key in keys):
        raise _refuse(node)
    return [str(key.this) for key in keys]


def _column_name(node: exp.Column, *, attribute: bool = False) -> str:
    """The column a reference names, when it is one of the subscriber's (``subscribers.`` or bare)."""
    name = node.name
    if node.args.get("db") or node.args.get("catalog") or node.table not in ("", "subscribers") \
            or (name == "attribs") != attribute or (not attribute and name not in COLUMNS):
        raise _refuse(node)
    return name


def _field(node: exp.Expr) -> _Field:
    node = _unwrap(node)
    if isinstance(node, exp.Cast) and node.to.this in NUMERIC_TYPES:
        field = _field(node.this)
        if field.path is None:
            raise _refuse(node)
        field.numeric = True
        return field
    if isinstance(node, exp.Column):
        return _Field(COLUMNS[_column_name(node)])
    if isinstance(node, exp.JSONExtractScalar):
        path = _path(node.this) + _keys(node)
        return _Field(f"attribs.{path[0]}", path)
    raise _refuse(node)


def _is_field(node: exp.Expr) -> bool:
    node = _unwrap(node)
    return isinstance(node, exp.Column | exp.JSONExtractScalar) or (
        isinstance(node, exp.Cast) and not isinstance(_unwrap(node.this), exp.Literal))


def _literal(node: exp.Expr) -> Any:
    """A string, number or boolean literal (a date cast of a string is its string)."""
    node = _unwrap(node)
    if isinstance(node, exp.Cast) and node.to.this in MOMENT_TYPES | NUMERIC_TYPES:
        node = _unwrap(node.this)
    negative = isinstance(node, exp.Neg)
    if negative:
        node = _unwrap(node.this)
    if isinstance(node, exp.Boolean) and not negative:
        return bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string and not negative:
            return str(node.this)
        if not node.is_string:
            text = str(node.this)
            try:
                number: int | float = int(text) if text.lstrip("-").isdigit() else float(text)
            except ValueError:
                raise _refuse(node) from None
            return -number if negative else number
    raise _refuse(node)


def _kind(field: _Field, value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if field.numeric or isinstance(value, int | float) else "text"


def _compare(node: exp.Binary) -> dict[str, Any]:
    op, left, right = COMPARISONS[type(node)], node.this, node.expression
    if not _is_field(left) and _is_field(right):
        op, left, right = MIRRORED[op], right, left
    field, value = _field(left), _literal(right)
    if field.field == "id" and isinstance(value, float):
        raise _refuse(right)
    return field.rule(op, value, _kind(field, value))


def _pattern(node: exp.Like | exp.ILike) -> dict[str, Any]:
    field, pattern = _field(node.this), _literal(node.expression)
    if not isinstance(pattern, str) or field.numeric or node.args.get("escape"):
        raise _refuse(node)
    return field.rule("ilike" if isinstance(node, exp.ILike) else "like", pattern)


def _in(node: exp.In) -> dict[str, Any]:
    if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
        raise _refuse(node)
    field = _field(node.this)
    values = [_literal(value) for value in node.expressions]
    kinds = {_kind(field, value) for value in values}
    if len(kinds) != 1 or "boolean" in kinds:
        raise _refuse(node)
    return field.rule("in", values, kinds.pop())


def _is_null(node: exp.Is) -> dict[str, Any]:
    if not isinstance(node.expression, exp.Null):
        raise _refuse(node)
    field = _field(node.this)
    if field.path is None:  # a subscriber's columns are never NULL
        null: dict[str, Any] = FALSE if field.field in ALWAYS_SET else TRUE
    else:
        null = field.rule("not_exists", None)
    return _negated(null) if node.args.get("negate") else null


def _negated(rule: dict[str, Any]) -> dict[str, Any]:
    return {"match": "all", "rules": [rule], "negate": True}


def _group(node: exp.And | exp.Or) -> dict[str, Any]:
    """A run of ANDs (or ORs) as one group: SQL nests them two by two."""
    parts: list[exp.Expr] = []
    pending: list[exp.Expr] = [node]
    while pending:
        part = _unwrap(pending.pop())
        if type(part) is type(node):
            pending += [part.expression, part.this]
        else:
            parts.append(part)
    if len(parts) > MAX_RULES:
        raise RuleError(_("A group holds a list of at most %(n)d rules.", n=MAX_RULES))
    return {"match": "all" if isinstance(node, exp.And) else "any", "rules": [_rule(part) for part in parts]}


def _rule(node: exp.Expr) -> dict[str, Any]:
    node = _unwrap(node)
    if isinstance(node, exp.And | exp.Or):
        return _group(node)
    if isinstance(node, exp.Not):
        return _negated(_rule(node.this))
    if type(node) in COMPARISONS:
        return _compare(node)  # type: ignore[arg-type]
    if isinstance(node, exp.Like | exp.ILike):
        rule = _pattern(node)
    elif isinstance(node, exp.In):
        rule = _in(node)
    elif isinstance(node, exp.Is):
        return _is_null(node)
    elif isinstance(node, exp.Between):
        field = _field(node.this)
        low, high = _literal(node.args["low"]), _literal(node.args["high"])
        rule = {"match": "all", "rules": [field.rule("gte", low, _kind(field, low)),
                                          field.rule("lte", high, _kind(field, high))]}
    elif isinstance(node, exp.Boolean):
        rule = TRUE if node.this else FALSE
    else:
        raise _refuse(node)
    return _negated(rule) if node.args.get("negate") else rule


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        deepest = max(deepest, depth)
    return deepest


def rules_from_sql(query: str) -> dict[str, Any]:
    """Translate a listmonk subscriber query into a rule group, or raise RuleError naming what is refused."""
    text = (query or "").strip()
    if not text or len(text) > MAX_QUERY:
        raise RuleError(_("The query is empty or longer than %(n)d characters.", n=MAX_QUERY))
    if _nesting(text) > MAX_NESTING:
        raise RuleError(_("Parentheses may be nested %(n)d deep at most.", n=MAX_NESTING))
    try:
        statements = [statement for statement in sqlglot.parse(text, read="postgres") if statement is not None]
    except SqlglotError as error:
        where = (getattr(error, "errors", None) or [{}])[0]
        raise RuleError(_("The query cannot be read at column %(col)s, near “%(near)s”.",
                                col=where.get("col", "?"), near=where.get("highlight", ""))) from None
    if len(statements) != 1:
        raise RuleError(_("A query is one condition: “;” and further statements are not allowed."))
    rule = _rule(statements[0])
    return rule if "rules" in rule else {"match": "all", "rules": [rule]}


def _is_python(text: str) -> bool:
    try:
        ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return False
    return True


def parse_query(query: str) -> dict[str, Any]:
    """Turn a ``query`` parameter into rules: Kairan's expression language, else listmonk's SQL.

    Kairan's expressions (``attribs.city == "大阪"``) are Python syntax, which listmonk's SQL
    (``subscribers.email='…'``) is not. When neither reads the text, the error is the expression
    language's if the text is Python syntax, and the SQL translation's otherwise.
    """
    try:
        return parse_expression(query)
    except RuleError as expression_error:
        try:
            return rules_from_sql(query)
        except RuleError as sql_error:
            raise (expression_error if _is_python(query) else sql_error) from None
