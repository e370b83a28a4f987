"""The gallery of starters: ready-made messages for a small shop's occasions, to start a campaign or a layout from.

Each starter is a file in mailer/starters/ (built from the pieces in ``_blocks.html``) and an entry of
``index.toml`` with its names and sample copy in Japanese and English. The files are Jinja written with
``[[ ]]`` and ``[% %]``, so the mail's own ``{{ subscriber.name }}`` passes through them as it is: a starter
becomes an ordinary body (the visual editor's HTML) in the campaign's layout, or a layout whose
``{{ content }}`` takes the place of the sample text.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flask import current_app, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.errors import NotAChoiceError, NotFoundError
from mailer.compiler import wrap
from mailer.layouts import default_template
from mailer.models import Campaign, ContentType
from mailer.previews import Preview, preview

STARTERS = Path(__file__).resolve().parent / "starters"
FALLBACK_LAYOUT = Path(__file__).resolve().parent.parent / "templates" / "mailer" / "layouts" / "newsletter.html"
LANGUAGES = ("ja", "en")  # the sample copy's languages: a campaign's languages (mailer/campaigns.py)
ENVIRONMENT = Environment(loader=FileSystemLoader(STARTERS), undefined=StrictUndefined, autoescape=False,  # noqa: S701
                          variable_start_string="[[", variable_end_string="]]", block_start_string="[%",
                          block_end_string="%]", comment_start_string="[#", comment_end_string="#]",
                          keep_trailing_newline=True)  # our own files; their copy is HTML on purpose


@dataclass(frozen=True)
class Starter:
    """One starter: its key (and file), accent colour and copy per language."""

    key: str
    accent: str
    copy: dict[str, dict[str, Any]]

    def name(self, lang: str) -> str:
        return str(self.copy[lang]["name"])

    def description(self, lang: str) -> str:
        return str(self.copy[lang]["description"])


@cache
def starters() -> tuple[Starter, ...]:
    """Every starter, in the gallery's order."""
    with (STARTERS / "index.toml").open("rb") as index:
        entries = tomllib.load(index)["starter"]
    return tuple(Starter(entry["key"], entry["accent"], {lang: entry[lang] for lang in LANGUAGES})
                 for entry in entries)


def get_starter(key: str) -> Starter:
    """Return a starter by its key, or raise NotFoundError."""
    for starter in starters():
        if starter.key == key:
            return starter
    raise NotFoundError(_("There is no starter “%(key)s” in the gallery.", key=key))


def copy_language(value: str | None) -> str:
    """The sample copy's language: as asked (ja or en), else the UI's language, else Japanese."""
    if value:
        if value not in LANGUAGES:
            raise NotAChoiceError(_("language must be one of: %(allowed)s.", allowed=", ".join(LANGUAGES)),
                                  field="lang")
        return value
    locale = str(get_locale() or "ja")[:2]
    return locale if locale in LANGUAGES else "ja"


def starter_body(starter: Starter, lang: str, *, layout: bool = False) -> str:
    """The starter's HTML with its copy in one language (``layout``: the copy's text is ``{{ content }}``)."""
    images = current_app.config["KAIRAN"].base_url.rstrip("/") + url_for("static", filename="gallery")
    template = ENVIRONMENT.get_template(f"{starter.key}.html")
    return template.render(copy=starter.copy[lang], lang=lang, accent=starter.accent, images=images,
                           layout=layout).strip() + "\n"


def campaign_values(starter: Starter, lang: str) -> dict[str, str]:
    """A new campaign's fields from a starter: its name, subject, preheader and body in the visual editor."""
    copy = starter.copy[lang]
    return {"name": str(copy["name"]), "subject": str(copy["subject"]), "preheader": str(copy["preheader"]),
            "content_type": ContentType.VISUAL.value, "language": lang, "body": starter_body(starter, lang)}


def layout_source(starter: Starter, lang: str) -> str:
    """A new layout from a starter: the default layout with the starter in its content slot."""
    frame = default_template()
    source = frame.body if frame else FALLBACK_LAYOUT.read_text(encoding="utf-8")
    return wrap(source, starter_body(starter, lang, layout=True))


def starter_preview(starter: Starter, lang: str) -> Preview:
    """The starter as a campaign made from it would show: in the default layout, for a sample reader, checked."""
    values = campaign_values(starter, lang)
    campaign = Campaign(id=0, uuid="00000000-0000-0000-0000-000000000000", name=values["name"],
                        subject=values["subject"], preheader=values["preheader"], language=lang, archive=False,
                        content_type=ContentType.VISUAL, body=values["body"], altbody=None,
                        template=default_template(), from_email="", charset="utf-8")
    return preview(campaign, None)
