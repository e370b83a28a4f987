"""A captured message made inert for display: the Outbox shows real campaign messages, whose links are live.

Viewing one must not count as its reader's open or click, nor let a click on its unsubscribe,
preferences or opt-in link act in the reader's name. So, for display only (the source stays as
captured): the open pixel becomes a blank image that loads nothing, a tracked link goes straight
to the URL it stands for, and the public pages' links get test tokens, whose page changes nothing.
Only tokens this Kairan signed are rewritten; any other URL is left as it is.
"""

from __future__ import annotations

import re

from markupsafe import escape
from sqlalchemy import select

from core.db import db
from core.tokens import Mark, Purpose, make_token, mark_key, read_mark_token, read_token
from mailer.models import Link

# Paths as tracking/views.py and lists/public_views.py route them; any host (the base URL may have changed).
TOKEN_PATH = re.compile(r"https?://[^\s\"'<>/]+/(?P<kind>[ocup])/(?P<token>[A-Za-z0-9_.-]+)")
OPTIN_TOKEN = re.compile(r"(?P<path>/subscription/optin/[0-9A-Fa-f-]+\?t=)(?P<token>[A-Za-z0-9_.-]+)")
READER_PURPOSES = {"u": Purpose.UNSUBSCRIBE, "p": Purpose.PREFERENCES}
BLANK_IMAGE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"  # 1×1, transparent


def inert(content: str, *, html: bool) -> str:
    """Return a message's HTML (``html``) or text part with its pixel, tracked links and reader links inert."""
    key = mark_key()
    clicks = {m["token"]: ids for m in TOKEN_PATH.finditer(content) if m["kind"] == "c"
              and (ids := read_mark_token(Mark.CLICK, m["token"], key)) is not None and len(ids) == 2}
    urls = dict(db.session.execute(select(Link.id, Link.url).where(
        Link.id.in_({ids[1] for ids in clicks.values()}))).all()) if clicks else {}

    def token_path(match: re.Match[str]) -> str:
        kind, token = match["kind"], match["token"]
        if kind == "o" and read_mark_token(Mark.OPEN, token.removesuffix(".gif"), key) is not None:
            return BLANK_IMAGE
        if kind == "c" and token in clicks and clicks[token][1] in urls:
            url = urls[clicks[token][1]]
            return str(escape(url)) if html else url
        if kind in READER_PURPOSES and (payload := read_token(READER_PURPOSES[kind], token)) is not None:
            return match[0].replace(token, make_token(READER_PURPOSES[kind], payload, test=True))
        return match[0]

    def optin(match: re.Match[str]) -> str:
        payload = read_token(Purpose.OPTIN, match["token"])
        return match[0] if payload is None else match["path"] + make_token(Purpose.OPTIN, payload, test=True)

    return OPTIN_TOKEN.sub(optin, TOKEN_PATH.sub(token_path, content))
