"""listmonk's Go-template syntax, translated to Kairan's Jinja when a template is saved.

listmonk users bring their layouts and bodies as they are. Each ``{{ … }}`` action that is
Go syntax (it starts with ``.``, ``$``, a Go keyword or a capitalised function such as
``UnsubscribeURL``; Kairan's own names are lower case) is rewritten when it is one of the
forms below, and refused, naming the expression and its line, when it is anything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext as _

from mailer.errors import TemplateError

ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
GO_ACTION = re.compile(r"^(\.|\$|(template|if|else|end|range|with|define|block)\b|[A-Z])")
QUOTED = r'"((?:[^"\\]|\\.)*)"'

FIELDS = {"Name": "name", "Email": "email", "UUID": "uuid", "ID": "id", "Status": "status", "Subject": "subject",
          "FirstName": "first_name", "LastName": "last_name"}
HELPERS = {
    "UnsubscribeURL": "unsubscribe_url", "ManageURL": "preferences_url", "OptinURL": "optin_url",
    "MessageURL": "archive_url", "TrackView": "track_view",
}


def _jinja(expression: str) -> Callable[[re.Match[str]], str]:
    return lambda match: "{{ " + match.expand(expression) + " }}"


# (pattern of the action's inside, its Jinja); the patterns are anchored at both ends.
RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r'template\s+"content"\s+\.'), _jinja("content")),
    (re.compile(r"\.Subscriber\.Attribs\.(\w+)"), _jinja(r"subscriber.attribs.\1")),
    (re.compile(r"\.Subscriber\.(Name|Email|UUID|ID|Status|FirstName|LastName)"),
     lambda m: "{{ subscriber." + FIELDS[m[1]] + " }}"),
    (re.compile(r"\.Campaign\.(Name|Subject|UUID|ID)"), lambda m: "{{ campaign." + FIELDS[m[1]] + " }}"),
    (re.compile(r"\.Tx\.Data\.(\w+)"), _jinja(r"tx.data.\1")),
    (re.compile("(" + "|".join(HELPERS) + ")"), lambda m: "{{ " + HELPERS[m[1]] + " }}"),
    # Kairan tracks every link of a campaign itself, so a tracked link is just its URL.
    (re.compile(r"TrackLink\s+" + QUOTED), lambda m: m[1]),
    (re.compile(QUOTED + r"\s*\|\s*TrackLink"), lambda m: m[1]),
    (re.compile(r"Safe\s+" + QUOTED), lambda m: m[1]),  # listmonk's raw HTML: the template's own text
]


def is_listmonk(source: str) -> bool:
    """Tell whether a template uses listmonk's syntax anywhere."""
    return "@TrackLink" in source or any(GO_ACTION.match(m[2]) for m in ACTION.finditer(source))


def from_listmonk(source: str) -> str:
    """Return the Jinja equivalent of a template in listmonk's syntax (Jinja parts are kept as they are)."""
    source = source.replace("@TrackLink", "")  # listmonk's shorthand: href="https://…@TrackLink"

    def translate(match: re.Match[str]) -> str:
        inside = match[2]
        if not GO_ACTION.match(inside):
            return match[0]
        for pattern, jinja in RULES:
            found = pattern.fullmatch(inside)
            if found:
                return jinja(found)
        line = source.count("\n", 0, match.start()) + 1
        raise TemplateError(_("Line %(line)d: the listmonk expression %(expression)s has no Kairan "
                                "equivalent.", line=line, expression=match[0]), line)

    return ACTION.sub(translate, source)
