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
from lists.paths import OPTIN, PREFERENCES, UNSUBSCRIBE
from mailer.models import Link
from mailer.paths import CLICK, OPEN_PIXEL

# The pages' paths as mailer/paths.py and lists/paths.py write them, on any host (the base URL may have changed).
READER_PAGES = ((UNSUBSCRIBE, Purpose.UNSUBSCRIBE), (PREFERENCES, Purpose.PREFERENCES))
TOKEN_PATH = re.compile(r"https?://[^\s\"'<>/]+(?P<path>(?:"
                        + "|".join(re.escape(page.prefix) for page in (OPEN_PIXEL, CLICK, UNSUBSCRIBE, PREFERENCES))
                        + r")[A-Za-z0-9_.-]+)")
OPTIN_TOKEN = re.compile(f"(?P<path>{OPTIN.pattern('[0-9A-Fa-f-]+')}\\?t=)(?P<token>[A-Za-z0-9_.-]+)")
BLANK_IMAGE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"  # 1×1, transparent


def inert(content: str, *, html: bool) -> str:
    """Return a message's HTML (``html``) or text part with its pixel, tracked links and reader links inert."""
    key = mark_key()
    clicks = {token: ids for m in TOKEN_PATH.finditer(content) if (token := CLICK.value_in(m["path"])) is not None
              and (ids := read_mark_token(Mark.CLICK, token, key)) is not None and len(ids) == 2}
    urls = dict(db.session.execute(select(Link.id, Link.url).where(
        Link.id.in_({ids[1] for ids in clicks.values()}))).all()) if clicks else {}

    def token_path(match: re.Match[str]) -> str:
        path = match["path"]
        token = OPEN_PIXEL.value_in(path)
        if token is not None and read_mark_token(Mark.OPEN, token, key) is not None:
            return BLANK_IMAGE
        token = CLICK.value_in(path)
        if token is not None and token in clicks and clicks[token][1] in urls:
            url = urls[clicks[token][1]]
            return str(escape(url)) if html else url
        for page, purpose in READER_PAGES:
            token = page.value_in(path)
            if token is not None and (payload := read_token(purpose, token)) is not None:
                return match[0].replace(token, make_token(purpose, payload, test=True))
        return match[0]

    def optin(match: re.Match[str]) -> str:
        payload = read_token(Purpose.OPTIN, match["token"])
        return match[0] if payload is None else match["path"] + make_token(Purpose.OPTIN, payload, test=True)

    return OPTIN_TOKEN.sub(optin, TOKEN_PATH.sub(token_path, content))
