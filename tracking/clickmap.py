"""The click map: a campaign's message as its readers saw it, each tracked link badged with its clicks.

The message is rendered by mailer's own compiler, for the sample reader, with each tracked link
replaced by a marker (``kairan-link:3``); the marker is then swapped back for the real URL and a
badge. Links are found by their place in the compiled message, not by their (HTML-escaped) text.
The result is served into a sandboxed frame (mailer.views.preview_response): no script runs in it,
so the badges are HTML and CSS only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from mailer.campaigns import compile_campaign
from mailer.models import Campaign
from mailer.template_context import reader_context

MARKER = re.compile(r'<a\b([^>]*?)\bhref="kairan-link:(\d+)"([^>]*)>', re.IGNORECASE)
HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
# Outline and badge win over the message's inline styles (!important); the badge sits above the link's
# right corner, on the gap between lines rather than on the words it counts.
STYLE = """<style>
a[data-kairan-link] { position: relative !important; outline: 2px solid rgba(194, 65, 12, .55) !important;
  outline-offset: 2px; }
.kairan-badge { position: absolute !important; bottom: 88%; right: -.6em; z-index: 2147483647;
  font: 700 12px/1.5 system-ui, "Noto Sans CJK JP", sans-serif !important; color: #fff !important;
  padding: 0 .45em; border-radius: 999px; white-space: nowrap; text-decoration: none !important;
  box-shadow: 0 1px 3px rgba(0, 0, 0, .35); pointer-events: none; }
</style>"""


@dataclass(frozen=True)
class LinkClicks:
    """What the badge of one URL says: clicks by people, how many people, and the share of all link clicks."""

    clicks: int
    people: int
    share: float | None  # 0..1, None when the campaign has no clicks yet


def heat(share: float | None) -> str:
    """Return the badge colour: grey for a link nobody clicked, then orange deepening with its share of clicks."""
    if not share:
        return "#616e7c"
    amount = max(0.0, min(1.0, share))
    # Dark enough at both ends for the badge's white text (contrast about 4:1 or more).
    return f"hsl({28 - 14 * amount:.0f}, 85%, {40 - 12 * amount:.0f}%)"


def badge_text(stats: LinkClicks) -> str:
    """Return a badge's words: the clicks, and their share when there are any."""
    if stats.share is None or not stats.clicks:
        return f"{stats.clicks:,}"
    return f"{stats.clicks:,} · {stats.share:.0%}"


def click_map_html(campaign: Campaign, clicks: Mapping[str, LinkClicks], title: str) -> str:
    """Render the campaign's HTML with a badge on every tracked link; ``title`` names a badge's numbers.

    ``title`` is a format string with ``{url}``, ``{clicks}`` and ``{people}``, in the UI language.
    """
    compiled = compile_campaign(campaign)
    markers = [f"kairan-link:{index}" for index in range(len(compiled.urls))]
    document, _text = compiled.render(reader_context(campaign, None, test=True), markers)
    nothing = LinkClicks(0, 0, None)

    def badge(match: re.Match[str]) -> str:
        url = compiled.urls[int(match[2])]
        stats = clicks.get(url, nothing)
        label = html.escape(title.format(url=url, clicks=stats.clicks, people=stats.people))
        return (f'<a{match[1]}href="{html.escape(url)}"{match[3]} data-kairan-link="{match[2]}" title="{label}">'
                f'<span class="kairan-badge" style="background:{heat(stats.share)}" data-clicks="{stats.clicks}">'
                f"{badge_text(stats)}</span>")

    document = MARKER.sub(badge, document)
    found = HEAD_END.search(document)
    return document[:found.start()] + STYLE + document[found.start():] if found else STYLE + document
