"""Email templates (layouts): saving with checks, the default, listmonk's JSON shape."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from core.db import db
from core.errors import NotFoundError, ValidationError
from core.oneline import one_line
from core.validation import choice
from mailer.compiler import compile_message
from mailer.errors import TemplateError, TemplateInUseError
from mailer.models import Campaign, Template, TemplateType
from mailer.sandbox import Checked, check_source
from mailer.template_context import reader_context

CONTENT_SLOT = re.compile(r"\{\{-?\s*content\s*-?\}\}")
# 特定電子メール法: every campaign mail names its sender, their address and contact point, and lets
# the reader refuse further mail. A campaign layout without these (a listmonk layout brought as it
# is) gets a footer that has them, added where the layout ends, as Mailchimp adds its required footer.
LEGAL_PARTS = (
    ("unsubscribe", r"\bunsubscribe_url\b", _l("an unsubscribe link")),
    ("sender", r"\bsender\.name\b", _l("the sender's name")),
    ("sender", r"\bsender\.address\b", _l("the sender's postal address")),
    ("sender", r"\bsender\.contact\b", _l("a contact point")),
)
LEGAL_FOOTER_MARK = "<!-- kairan:legal-footer -->"  # starts the added footer, so checks can say it was added
# The footer's lines (mail text, in the campaign's language as the seeded layouts have it: ja, else en).
LEGAL_FOOTER_LINES = {
    "unsubscribe": ('今後の配信を希望されない場合は、'
                    '<a href="{{ unsubscribe_url }}">配信停止</a>のお手続きをお願いします。',
                    'If you no longer wish to receive these emails, you may '
                    '<a href="{{ unsubscribe_url }}">unsubscribe</a> at any time.'),
    "sender": ("送信者：{{ sender.name }}　{{ sender.address }}<br>お問い合わせ：{{ sender.contact }}",
               "Sender: {{ sender.name }}, {{ sender.address }}<br>Contact: {{ sender.contact }}"),
}
BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _legal_footer(parts: list[str]) -> str:
    def lines(language: int) -> str:
        return "".join(f'<p style="margin: 0 0 8px 0;">{LEGAL_FOOTER_LINES[part][language]}</p>' for part in parts)

    return (f'{LEGAL_FOOTER_MARK}\n<div style="font-size: 12px; color: #666666; padding: 16px 24px;">\n'
            f'{{% if lang == "ja" %}}{lines(0)}{{% else %}}{lines(1)}{{% endif %}}\n</div>\n')


def with_legal_footer(source: str) -> tuple[str, list[str]]:
    """Return a campaign layout with the legal footer added where it lacks a part of it, and what was lacking."""
    lacking = [(part, str(what)) for part, pattern, what in LEGAL_PARTS if not re.search(pattern, source)]
    if not lacking:
        return source, []
    footer = _legal_footer(list(dict.fromkeys(part for part, _what in lacking)))
    ends = list(BODY_END.finditer(source))
    at = ends[-1].start() if ends else len(source)
    return source[:at] + footer + source[at:], [what for _part, what in lacking]


def footer_notice(lacking: list[str]) -> str:
    """Say that the legal footer was added, and why."""
    return _("The layout lacked %(missing)s, which Japan's Act on Specified Electronic Mail requires: Kairan added "
             "a footer with them at its end.", missing=", ".join(lacking))


def check_layout(body: str, kind: TemplateType) -> Checked:
    """Check a layout's body; a campaign layout needs the slot, and gets the legal footer where it lacks it."""
    checked = check_source(body)
    if kind == TemplateType.CAMPAIGN:
        if not CONTENT_SLOT.search(checked.source):
            raise TemplateError(_("A campaign layout needs the {{ content }} slot (listmonk's "
                                  "{{ template \"content\" . }}), where each campaign's body goes."))
        source, lacking = with_legal_footer(checked.source)
        if lacking:
            checked = Checked(source, [*checked.warnings, footer_notice(lacking)])
    return checked


SAMPLE_BODY = _l("<h1>{{ campaign.subject }}</h1>\n<p>Dear {{ subscriber.name }}, thank you for reading.</p>\n"
                 "<p>This is sample content, shown where a campaign's body goes.</p>")


def preview_layout(body: str, kind: TemplateType) -> str:
    """Render a layout around a sample body for a sample reader (listmonk's template preview)."""
    layout = check_layout(body, kind).source
    sample = Campaign(id=0, uuid="00000000-0000-0000-0000-000000000000", name=_("Sample campaign"),
                      subject=_("Sample subject"), preheader="", language="ja", archive=False)
    html, _text = compile_message(str(SAMPLE_BODY), layout if kind == TemplateType.CAMPAIGN else None,
                                  subject=sample.subject).render(reader_context(sample, None, test=True))
    return html


def all_templates(kind: str | None = None) -> list[Template]:
    """Return every template (or those of one type), the default first."""
    stmt = select(Template).order_by(Template.is_default.desc(), Template.name)
    if kind:
        stmt = stmt.where(Template.type == choice(TemplateType, kind, "type"))
    return list(db.session.scalars(stmt))


def get_template(template_id: int) -> Template:
    """Return a template or raise NotFoundError."""
    template = db.session.get(Template, template_id)
    if template is None:
        raise NotFoundError(_("Template not found."))
    return template


def default_template() -> Template | None:
    """Return the default campaign layout."""
    return db.session.scalar(select(Template).where(Template.is_default.is_(True)).limit(1))


def save_template(template: Template | None, data: dict[str, Any]) -> tuple[Template, list[str]]:
    """Create or change a template from listmonk's fields; return it with the checks' warnings."""
    name = str(data.get("name") or (template.name if template else "")).strip()
    if not name:
        raise ValidationError(_("Enter a name."), field="name")
    kind = choice(TemplateType, data.get("type"), "type", template.type if template else TemplateType.CAMPAIGN)
    checked = check_layout(str(data.get("body") if data.get("body") is not None else
                               (template.body if template else "")), kind)
    subject = one_line(data.get("subject"), _("Subject"))
    if kind == TemplateType.TX:
        if not subject:
            raise ValidationError(_("A transactional template needs a subject."), field="subject")
        subject = check_source(subject).source
    if template is None:
        template = Template()
        db.session.add(template)
    template.name, template.type, template.subject, template.body = name, kind, subject, checked.source
    db.session.commit()
    return template, checked.warnings


def set_default(template: Template) -> None:
    """Make a campaign layout the default one."""
    if template.type != TemplateType.CAMPAIGN:
        raise ValidationError(_("Only a campaign layout can be the default."))
    db.session.execute(update(Template).values(is_default=Template.id == template.id))
    db.session.commit()


def delete_template(template: Template) -> None:
    """Delete a template; the default one and one that campaigns use stay."""
    if template.is_default:
        raise TemplateInUseError(_("The default template cannot be deleted."))
    in_use = db.session.scalar(select(Campaign.name).where(Campaign.template_id == template.id).limit(1))
    if in_use is not None:
        raise TemplateInUseError(_("The campaign “%(name)s” uses this template.", name=in_use))
    db.session.delete(template)
    db.session.commit()


def template_as_dict(template: Template, warnings: list[str] | None = None) -> dict[str, Any]:
    """Serialise a template as listmonk does (plus Kairan's warnings when there are some)."""
    data = {
        "id": template.id, "created_at": template.created_at.isoformat(),
        "updated_at": template.updated_at.isoformat(), "name": template.name, "type": template.type.value,
        "subject": template.subject, "body": template.body, "is_default": template.is_default,
    }
    if template.type == TemplateType.CAMPAIGN:
        data["legal_footer_added"] = LEGAL_FOOTER_MARK in template.body  # Kairan's: the footer it added, if any
    if warnings:
        data["warnings"] = warnings
    return data
