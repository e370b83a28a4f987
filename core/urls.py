"""URL helpers shared by pages, mail and health reports."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit, urlunsplit

_VARIABLE = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")  # a Flask rule's variable: <token>, <int:id>


def hide_password(url: str) -> str:
    """Return a URL with any password replaced by ***, for pages and reports."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


class PublicPath:
    """A public page's path, written once: the router routes its rule and mail links are built from it.

    ``@bp.route(UNSUBSCRIBE.rule)`` routes it; ``UNSUBSCRIBE.link(base_url, token=…)`` builds a link to
    it, so renaming the page renames both. Links are built by formatting a string, not by url_for,
    which would cost more per message than the render. Values go in as they are: tokens and uuids
    are URL-safe. A value the rule has no variable for goes to the query string, as with url_for.
    """

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.variables = tuple(_VARIABLE.findall(rule))
        self._format = _VARIABLE.sub(r"{\1}", rule)
        # What every path of this page starts and ends with, around its variables (a WSGI layer's quick test).
        self.prefix, self.suffix = rule.partition("<")[0], rule.rpartition(">")[2] if self.variables else ""

    def __repr__(self) -> str:
        return f"PublicPath({self.rule!r})"

    def link(self, base_url: str, /, **values: str | list[str]) -> str:
        """Return the page's URL on ``base_url`` with the rule's variables filled in from ``values``."""
        if len(values) == len(self.variables):
            return base_url + self._format.format_map(values)
        query = {name: value for name, value in values.items() if name not in self.variables}
        return f"{base_url}{self._format.format_map(values)}?{urlencode(query, doseq=True)}"

    def value_in(self, path: str) -> str | None:
        """Return what a request's path has where the rule has its variables, or None for another page's path."""
        if len(path) >= len(self.prefix) + len(self.suffix) and path.startswith(self.prefix) \
                and path.endswith(self.suffix):
            return path[len(self.prefix):len(path) - len(self.suffix)]
        return None

    def pattern(self, value: str) -> str:
        """Return a regular expression of the page's paths: each variable a named group matching ``value``."""
        parts = _VARIABLE.split(self.rule)  # literal text and variable names, in turn
        return "".join(f"(?P<{part}>{value})" if n % 2 else re.escape(part) for n, part in enumerate(parts))
