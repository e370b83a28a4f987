"""The segment expression language: what Kairan accepts where listmonk takes raw SQL.

Python expression syntax, parsed with ast and never evaluated, turned into a rule group (lists/segment_rules.py)::

    attribs.city == "大阪" and attribs.age >= 30
    "docomo.ne.jp" in email or list == 3
    not (status == "blocklisted") and created_at > "2026-01-01"

Behaviour rules are calls of functions that later packages register (``register_function``; lists cannot import
them), each with quoted texts and numbers as its arguments::

    did("purchase", within_days=30, at_least=2)
    not did("purchase", within_days=30, product__contains="ink")
    opened(campaign=12) and not engaged(within_days=90)
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

from lists.errors import RuleError

_COMPARE = {ast.Eq: "eq", ast.NotEq: "ne", ast.Gt: "gt", ast.GtE: "gte", ast.Lt: "lt", ast.LtE: "lte"}
MAX_EXPRESSION = 2000

# A function's name → what turns its call into a rule: (positional arguments, keyword arguments, negated) → rule.
# "not f(…)" is given negated=True, so that it can answer a rule of its own ("did_not") rather than a negated group.
FunctionRule = Callable[[list[Any], dict[str, Any], bool], dict[str, Any]]
FUNCTIONS: dict[str, FunctionRule] = {}


def register_function(name: str, rule: FunctionRule) -> None:
    """Let the expression language call ``name(…)`` (automations' did, tracking's opened); again is a no-op."""
    if FUNCTIONS.get(name, rule) is not rule:
        raise ValueError(f"segment expression function {name!r} is registered already")
    FUNCTIONS[name] = rule


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name) and node.id in ("email", "name", "status", "created_at", "list"):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "attribs":
        return f"attribs.{node.attr}"
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "attribs"
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
        return f"attribs.{node.slice.value}"  # attribs["都道府県"]
    raise RuleError(_("Only email, name, status, created_at, list and attribs.<name> can be compared."))


def _constant(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float) \
            and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, int | float) and not isinstance(node.operand.value, bool):
        return -node.operand.value  # a negative number (-'x' is no constant: it was a 500)
    raise RuleError(_("Compare with a quoted text or a number."))


def _call(node: ast.Call, negated: bool) -> dict[str, Any]:
    """A registered function's call, its arguments quoted texts and numbers: the rule it stands for."""
    if not isinstance(node.func, ast.Name):  # a method, __import__('os').system(…): no function of ours
        raise RuleError(_("Use comparisons joined by and, or, not and parentheses."))
    if node.func.id not in FUNCTIONS:
        raise RuleError(_("Unknown function %(name)s: use %(names)s.", name=node.func.id[:40],
                          names=", ".join(sorted(FUNCTIONS)) or "—"))
    if any(keyword.arg is None for keyword in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
        raise RuleError(_("Name each argument of %(name)s.", name=node.func.id))
    keywords = {str(keyword.arg): _constant(keyword.value) for keyword in node.keywords}
    return FUNCTIONS[node.func.id]([_constant(arg) for arg in node.args], keywords, negated)


def _from_ast(node: ast.expr) -> dict[str, Any]:
    if isinstance(node, ast.BoolOp):
        return {"match": "all" if isinstance(node.op, ast.And) else "any", "rules": [_from_ast(v) for v in node.values]}
    if isinstance(node, ast.Call):
        return _call(node, negated=False)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        if isinstance(node.operand, ast.Call):
            return _call(node.operand, negated=True)
        inner = _from_ast(node.operand)
        return {"match": "all", "rules": [inner], "negate": True}
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        return _compare(node.ops[0], node.left, node.comparators[0])
    raise RuleError(_("Use comparisons joined by and, or, not and parentheses."))


def _compare(op: ast.cmpop, left: ast.expr, right: ast.expr) -> dict[str, Any]:
    """Turn one comparison into a rule."""
    if isinstance(op, ast.In | ast.NotIn):  # "text" in field
        field = _name(right)
        return {"field": field, "op": "contains" if isinstance(op, ast.In) else "not_contains",
                "value": _constant(left)}
    field, value = _name(left), _constant(right)
    if field == "list":
        return {"field": "list", "op": "member" if isinstance(op, ast.Eq) else "not_member", "value": value}
    if field == "created_at":
        return {"field": field, "op": "before" if isinstance(op, ast.Lt | ast.LtE) else "after", "value": value}
    kind = "number" if isinstance(value, int | float) else "text"
    if type(op) not in _COMPARE or (kind == "text" and type(op) not in (ast.Eq, ast.NotEq)
                                    and not field.startswith("attribs.")):
        raise RuleError(_("That comparison is not supported."))
    if kind == "text" and type(op) not in (ast.Eq, ast.NotEq):
        return {"field": field, "type": "date", "op": "before" if isinstance(op, ast.Lt | ast.LtE) else "after",
                "value": value}
    return {"field": field, "type": kind, "op": _COMPARE[type(op)], "value": value}


def parse_expression(expression: str) -> dict[str, Any]:
    """Turn an expression into a rule group, or raise RuleError saying what is wrong."""
    text = (expression or "").strip()
    if not text or len(text) > MAX_EXPRESSION:
        raise RuleError(_("The expression is empty or longer than %(n)d characters.", n=MAX_EXPRESSION))
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise RuleError(_("The expression cannot be read at column %(col)d.", col=(error.offset or 0))) from None
    rule = _from_ast(tree.body)
    return rule if "rules" in rule else {"match": "all", "rules": [rule]}
