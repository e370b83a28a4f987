"""Compile once, render per message.

Compiling (when a campaign starts, and for each preview) turns a body into one email:
the body becomes HTML (Markdown, plain text and the visual editor's output each have their
way), is put into its layout's ``{{ content }}``, gets its CSS inlined by premailer, has
its links collected (each becomes ``{{ links[i] }}``, so the send path can put a tracked
URL there) and its plain-text part derived, and both parts are compiled as sandboxed
templates. premailer costs 13–29 ms and must never run per message; rendering a compiled
message costs tens of microseconds (``bench/compile.py``).

Jinja is hidden behind placeholders while HTML tools work on the text: lxml would
percent-encode ``{{ unsubscribe_url }}`` inside an href and Markdown would escape quotes.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from jinja2 import Template as JinjaTemplate
from markdown_it import MarkdownIt
from premailer import Premailer

from mailer.models import ContentType
from mailer.sandbox import HTML_ENV, TEXT_ENV

JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
PLACEHOLDER = re.compile(r"KAIRANJ(\d+)X")
CONTENT_SLOT = re.compile(r"\{\{-?\s*content\s*-?\}\}")
HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)(")', re.IGNORECASE)
BODY_TAGS = re.compile(r"</?body\b[^>]*>", re.IGNORECASE)
LAYOUT_TAGS = re.compile(r"<(/?)(?:table|tbody|thead|tfoot|tr|td|th)\b[^>]*>", re.IGNORECASE)
EMPTY_LINK = re.compile(r"\[\s*\]\(([^)]*)\)")
UNTRACKED = ("mailto:", "tel:", "sms:", "#")
MARKDOWN = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table")
TEXT_CONFIG = ParserConfig(display_links=True)


class Protected:
    """Jinja tags swapped for inert placeholders (``KAIRANJ3X``) and back."""

    def __init__(self) -> None:
        self.tags: list[str] = []

    def hide(self, source: str) -> str:
        """Replace each Jinja tag by a placeholder."""
        def swap(match: re.Match[str]) -> str:
            self.tags.append(match[0])
            return f"KAIRANJ{len(self.tags) - 1}X"
        return JINJA.sub(swap, source)

    def add(self, tag: str) -> str:
        """Return a placeholder for a new Jinja tag."""
        self.tags.append(tag)
        return f"KAIRANJ{len(self.tags) - 1}X"

    def restore(self, text: str) -> str:
        """Put the Jinja tags back."""
        return PLACEHOLDER.sub(lambda m: self.tags[int(m[1])], text)


def body_html(content_type: ContentType | str, body: str) -> str:
    """Return a body as HTML (still holding its Jinja) for its content type."""
    if content_type == ContentType.MARKDOWN:
        protected = Protected()
        return protected.restore(MARKDOWN.render(protected.hide(body)))
    if content_type == ContentType.VISUAL:  # the editor exports a whole <body>; the layout has its own
        return BODY_TAGS.sub("", body)
    if content_type == ContentType.PLAIN:
        paragraphs = re.split(r"\n\s*\n", body.strip())
        return "\n".join("<p>" + html.escape(p, quote=False).replace("\n", "<br>\n") + "</p>" for p in paragraphs)
    return body


def wrap(layout: str | None, content: str) -> str:
    """Put content into a layout's ``{{ content }}`` slot (no layout: the content alone)."""
    if layout is None:
        return content
    return CONTENT_SLOT.sub(lambda _m: content, layout)


def inline_css(source: str) -> str:
    """Inline a document's CSS (rules that cannot be inlined, such as media queries, stay in <style>)."""
    if not source.strip():
        return source  # an empty draft without a layout: premailer finds no document in it and fails
    return str(Premailer(source, disable_validation=True, cssutils_logging_level=logging.CRITICAL,
                         allow_network=False, disable_link_rewrites=True, keep_style_tags=False,
                         remove_classes=False, strip_important=False).transform())  # media queries need !important


def plain_text(document: str) -> str:
    """Derive the plain-text part from the finished HTML, so both say the same."""
    # Email layouts are tables; read as tables they would come out as a wide grid of spaces.
    text = get_text(LAYOUT_TAGS.sub(r"<\1div>", document), TEXT_CONFIG)
    text = EMPTY_LINK.sub(r"\1", text)  # a linked image without alt text: just the URL
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


@dataclass(frozen=True)
class Compiled:
    """A message ready to render: subject, HTML and text templates, and the URLs ``links[i]`` stands for."""

    html: JinjaTemplate
    text: JinjaTemplate
    urls: tuple[str, ...]
    html_source: str
    text_source: str
    subject: JinjaTemplate

    def render_subject(self, context: dict[str, Any]) -> str:
        """Render the subject for one reader: plain text, as a mail header carries it."""
        return self.subject.render(context)

    def render(self, context: dict[str, Any], links: Sequence[str] | None = None) -> tuple[str, str]:
        """Render both parts for one reader; ``links[i]`` is link i's URL (tracked when sending)."""
        _subject, html, text = self.render_all(context, links)
        return html, text

    def render_all(self, context: dict[str, Any], links: Sequence[str] | None = None) -> tuple[str, str, str]:
        """Render the subject (once: the layout shows it too) and both parts for one reader."""
        subject = self.render_subject(context)
        # An item lookup, not a call: a sandboxed call costs ~5 µs, 50 of them would double a render.
        context = {**context, "links": self.urls if links is None else links}
        if isinstance(context.get("campaign"), dict):  # layouts show {{ campaign.subject }}: this reader's subject
            context["campaign"] = {**context["campaign"], "subject": subject}
        return subject, self.html.render(context), self.text.render({**context, "track_view": ""})  # no pixel in text


def compile_message(content_html: str, layout: str | None, altbody: str | None = None, subject: str = "") -> Compiled:
    """Compile a body (HTML with Jinja) in its layout: inline CSS, collect links, derive the text part."""
    protected = Protected()
    document = inline_css(protected.hide(wrap(layout, content_html)))
    urls: list[str] = []

    def track(match: re.Match[str]) -> str:
        url = html.unescape(match[2]).strip()
        if not url or url.startswith(UNTRACKED) or PLACEHOLDER.search(url):
            return match[0]  # anchors, mail and phone links, per-reader helper URLs stay as they are
        if url not in urls:
            urls.append(url)
        return match[1] + protected.add(f"{{{{ links[{urls.index(url)}] }}}}") + match[3]

    document = HREF.sub(track, document)
    text = protected.hide(altbody) if altbody else plain_text(document)
    html_source, text_source = protected.restore(document), protected.restore(text)
    return Compiled(HTML_ENV.from_string(html_source), TEXT_ENV.from_string(text_source), tuple(urls),
                    html_source, text_source, TEXT_ENV.from_string(subject))


def convert(body: str, source: ContentType, target: ContentType) -> str:
    """Convert a body between formats (listmonk's /content), Jinja kept as it is."""
    if source == target:
        return body
    html_body = body_html(source, body)
    if target in (ContentType.PLAIN, ContentType.MARKDOWN):  # plain text is Markdown already
        protected = Protected()
        return protected.restore(plain_text(protected.hide(html_body)))
    return html_body  # HTML, rich text and the visual editor all start from HTML
