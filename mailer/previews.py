"""A campaign before it is sent: the preview for one reader, the checks beside it, and the charset's test.

The preview page, the API's preview and the test send show the message exactly as the send builds it
(mailer/campaigns.py compiles it); the checks say what to fix or know first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _

from lists.models import Subscriber
from mailer.campaigns import compile_campaign, legal_problems, sender_of
from mailer.compiler import Compiled, body_html
from mailer.domains import unreal_sender
from mailer.errors import NotSendableError
from mailer.layouts import LEGAL_FOOTER_MARK
from mailer.models import Campaign
from mailer.sandbox import MissingNames
from mailer.template_context import reader_context

GMAIL_CLIP_BYTES = 102 * 1024  # Gmail hides everything after this much HTML behind "[Message clipped]"
SUBJECT_MAX_COLUMNS = 80  # a phone shows about 40 Latin or 20 Japanese characters of a subject
# Lengths in display columns: a Japanese character is as wide as two Latin ones, on screen and in an inbox.
PREHEADER_MIN_COLUMNS = 20
IMAGE_ONLY_TEXT_COLUMNS = 100  # a body with images and less text than this reads as an image-only mail

# Checks of packages above mailer (surveys): the campaign and its body's HTML (without the layout) in, warnings
# out. They register here, so the preview shows what they know without mailer importing them.
PreviewCheck = Callable[[Campaign, str], list[str]]
CHECKS: list[PreviewCheck] = []


def register_preview_check(check: PreviewCheck) -> None:
    """Add a check to every campaign's preview; registering it again is a no-op."""
    if check not in CHECKS:
        CHECKS.append(check)


@dataclass
class Preview:
    """One message as a reader would get it, and what the checks found."""

    subject: str
    html: str
    text: str
    missing: list[str]
    checks: list[dict[str, str]]


def preview(campaign: Campaign, subscriber: Subscriber | None) -> Preview:
    """Render a campaign for one reader (nothing is counted, and its links change nothing) and run the checks."""
    compiled = compile_campaign(campaign)
    context = reader_context(campaign, subscriber, test=True)
    with MissingNames() as missing:
        subject, html, text = compiled.render_all(context)
    checks = run_checks(campaign, compiled, (subject, html, text), sorted(missing)) + registered_checks(campaign)
    return Preview(subject, html, text, sorted(missing), checks)


def registered_checks(campaign: Campaign) -> list[dict[str, str]]:
    """The warnings of the checks other packages registered (register_preview_check) about the campaign's body."""
    content = body_html(campaign.content_type, campaign.body)
    return [_check_result("warning", message) for check in CHECKS for message in check(campaign, content)]


IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
ALT = re.compile(r"\balt\s*=\s*\"([^\"]*)\"", re.IGNORECASE)
DEAD_LINK = re.compile(r'<a\b(?![^>]*\bhref=)[^>]*>|<a\b[^>]*\bhref="(?:#?|https?://example\.com/?)"',
                       re.IGNORECASE)  # no href, an empty one, or the editor's placeholder
TAGS = re.compile(r"<style\b.*?</style>|<[^>]+>", re.IGNORECASE | re.DOTALL)
NOT_ISO_2022_JP = "①②③④⑤⑥⑦⑧⑨⑩㈱㈲㍉㌔№℡髙﨑"  # shown as examples; the check itself encodes


def columns(text: str) -> int:
    """Return how many display columns text takes (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _check_result(level: str, message: str) -> dict[str, str]:
    return {"level": level, "message": message}


def run_checks(campaign: Campaign, compiled: Compiled, rendered: tuple[str, str, str],
               missing: list[str]) -> list[dict[str, str]]:
    """Return what to fix or know before sending (level "error", "warning" or "ok") about a rendered message."""
    subject, html, text = rendered
    results = []
    for name in missing:
        results.append(_check_result("warning", _("Unknown variable “%(name)s”: it will be empty.", name=name)))
    images = IMG.findall(html)
    no_alt = [tag for tag in images if not (m := ALT.search(tag)) or not m[1].strip()]
    if no_alt:
        results.append(_check_result("warning", _("%(n)d of %(m)d images have no alt text (shown when images "
                                                  "are blocked, read aloud by screen readers).",
                                                  n=len(no_alt), m=len(images))))
    content = body_html(campaign.content_type, campaign.body)  # the body alone: the layout's footer is text too
    if IMG.search(content) and columns(re.sub(r"\s+", "", TAGS.sub("", content))) < IMAGE_ONLY_TEXT_COLUMNS:
        results.append(_check_result("warning", _("The message is mostly images: spam filters distrust that, "
                                                  "and readers who block images see nothing.")))
    size = len(html.encode())
    if size > GMAIL_CLIP_BYTES:
        results.append(_check_result("error", _("The HTML is %(kb)d KB: Gmail clips messages over 102 KB.",
                                                kb=size // 1024)))
    else:
        results.append(_check_result("ok", _("Size %(kb)d KB (Gmail clips over 102 KB).", kb=max(1, size // 1024))))
    if columns(subject) > SUBJECT_MAX_COLUMNS:
        results.append(_check_result("warning", _("The subject is long: phones show only its beginning.")))
    if columns(campaign.preheader.strip()) < PREHEADER_MIN_COLUMNS:
        results.append(_check_result("warning", _("Add a preheader: a short sentence that inboxes show after the "
                                                  "subject.")))
    nowhere = len(DEAD_LINK.findall(html))
    if nowhere:
        results.append(_check_result("warning", _("%(n)d links or buttons go nowhere: give them a web address.",
                                                  n=nowhere)))
    insecure = [url for url in compiled.urls if url.startswith("http://")]
    if insecure:
        results.append(_check_result("warning", _("%(n)d links are not https: %(urls)s", n=len(insecure),
                                                  urls=", ".join(insecure[:3]))))
    results.extend(_check_result("error", problem) for problem in legal_problems(campaign, compiled))
    if unreal := unreal_sender(sender_of(campaign)):
        results.append(_check_result("warning", unreal))
    if campaign.template is not None and LEGAL_FOOTER_MARK in campaign.template.body:
        results.append(_check_result("ok", _("The layout “%(name)s” lacked the footer the law requires (sender, "
                                             "address, contact, unsubscribe link): Kairan added one at its end.",
                                             name=campaign.template.name)))
    if campaign.charset == "iso-2022-jp":
        results.extend(_iso_2022_jp_check(subject + text))
    return results


def check_sendable(campaign: Campaign, subscriber: Subscriber | None) -> None:
    """Refuse (NotSendableError) a message whose charset cannot carry its subject or text part."""
    if campaign.charset != "iso-2022-jp":
        return
    context = reader_context(campaign, subscriber)
    compiled = compile_campaign(campaign)
    subject, _html, text = compiled.render_all(context)
    for problem in _iso_2022_jp_check(subject + text):
        raise NotSendableError(problem["message"])


def _iso_2022_jp_check(text: str) -> list[dict[str, str]]:
    bad = sorted({c for c in text if not _encodes(c, "iso-2022-jp")})
    if not bad:
        return []
    return [_check_result("error", _("ISO-2022-JP cannot carry these characters: %(chars)s (e.g. %(examples)s); "
                                     "replace them or send as UTF-8.", chars=" ".join(bad[:20]),
                                     examples=NOT_ISO_2022_JP[:5]))]


def _encodes(char: str, charset: str) -> bool:
    try:
        char.encode(charset)
    except UnicodeEncodeError:
        return False
    return True
