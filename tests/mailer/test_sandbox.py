"""Personalisation: what a template may do, what saving refuses, listmonk's syntax."""

from __future__ import annotations

import pytest

from mailer.errors import TemplateError
from mailer.listmonk_syntax import from_listmonk, is_listmonk
from mailer.sandbox import HTML_ENV, MissingNames, check_source

pytestmark = pytest.mark.usefixtures("ctx")
READER = {"subscriber": {"name": "山田 太郎", "email": "taro@example.jp", "uuid": "u-1",
                         "attribs": {"city": "大阪"}},
          "campaign": {"name": "11月号", "subject": "お知らせ"}, "unsubscribe_url": "https://k.example/u/t"}


def render(source: str, **extra: object) -> str:
    return HTML_ENV.from_string(check_source(source).source).render({**READER, **extra})


def test_personalises_with_fallbacks_and_escapes_html() -> None:
    assert render("{{ subscriber.attribs.city }}の{{ subscriber.name }}様") == "大阪の山田 太郎様"
    assert render("{{ subscriber.attribs.first_name | default('お客様') }}") == "お客様"
    html = render("{{ subscriber.attribs.city }}", subscriber={"attribs": {"city": "<b>x</b>"}})
    assert html == "&lt;b&gt;x&lt;/b&gt;"


@pytest.mark.parametrize("source, line", [
    ("<p>ok</p>\n<p>{{ subscriber.name </p>", 2),
    ("a\nb\n{% if subscriber.name %}never closed", 3),
    ("{% for x in %}{% endfor %}", 1),
])
def test_a_syntax_error_is_refused_with_its_line(source: str, line: int) -> None:
    with pytest.raises(TemplateError) as error:
        check_source(source)
    assert error.value.line == line
    assert error.value.message.startswith(f"Line {line}:")


@pytest.mark.parametrize("escape", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ subscriber['__class__'] }}",
    "{{ config.SECRET_KEY }}",
    "{{ request.environ }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ '{0.__class__}'.format(subscriber) }}",
    "{{ lipsum.__globals__ }}",
])
def test_sandbox_escapes_are_refused_when_saved(escape: str) -> None:
    with pytest.raises(TemplateError, match=r"not (allowed|available)"):
        check_source("<p>Hi</p>\n" + escape)


def test_unknown_names_warn_when_saved_and_render_empty_when_sent() -> None:
    checked = check_source("{{ subscriber.nmae }} {{ coupon }} {% set x = 1 %}{{ x }}")
    assert checked.warnings == ["Line 1: unknown variable “coupon” (it will be empty).",
                                "Line 1: unknown variable “subscriber.nmae” (it will be empty)."]
    with MissingNames() as missing:
        assert render("[{{ subscriber.attribs.plan.level }}][{{ coupon }}]") == "[][]"
    assert missing == {"plan", "coupon"}  # the first name that was missing


def test_dates_are_formatted_for_the_readers_language() -> None:
    assert render("{{ '2026-11-23' | date('long', lang='ja') }}") == "2026年11月23日"
    assert render("{{ '2026-11-23' | date('long') }}", lang="en") == "November 23, 2026"


LISTMONK = """<p>{{ .Subscriber.Name }} ({{ .Subscriber.Email }}, {{ .Subscriber.UUID }})</p>
<p>{{ .Subscriber.Attribs.city }} / {{ .Campaign.Subject }} / {{ .Campaign.Name }}</p>
<a href="{{ TrackLink "https://example.jp/sale" }}">sale</a> <a href="https://example.jp/b@TrackLink">b</a>
<a href="{{ UnsubscribeURL }}">unsubscribe</a> {{ template "content" . }} {{ TrackView }}"""
JINJA = """<p>{{ subscriber.name }} ({{ subscriber.email }}, {{ subscriber.uuid }})</p>
<p>{{ subscriber.attribs.city }} / {{ campaign.subject }} / {{ campaign.name }}</p>
<a href="https://example.jp/sale">sale</a> <a href="https://example.jp/b">b</a>
<a href="{{ unsubscribe_url }}">unsubscribe</a> {{ content }} {{ track_view }}"""


def test_a_listmonk_template_renders_as_its_jinja_equivalent() -> None:
    assert is_listmonk(LISTMONK) and not is_listmonk(JINJA)
    assert from_listmonk(LISTMONK) == JINJA
    assert render(LISTMONK, content="本文") == render(JINJA, content="本文")
    assert "大阪 / お知らせ / 11月号" in render(LISTMONK)
    assert from_listmonk("{{ .Tx.Data.order_id }} {{ ManageURL }} {{ OptinURL }} {{ MessageURL }}") == \
        "{{ tx.data.order_id }} {{ preferences_url }} {{ optin_url }} {{ archive_url }}"
    assert from_listmonk('{{ .Subscriber.FirstName }} {{ .Subscriber.LastName }} {{ Safe "<b>x</b>" }}') == \
        "{{ subscriber.first_name }} {{ subscriber.last_name }} <b>x</b>"


@pytest.mark.parametrize("construct", ['{{ if .Subscriber.Name }}', '{{ L.T "email.unsub" }}',
                                       '{{ range .Lists }}', '{{ Date "2006-01-02" }}'])
def test_other_listmonk_constructs_are_refused_by_name(construct: str) -> None:
    with pytest.raises(TemplateError) as error:
        check_source(f"<p>a</p>\n<p>{construct}</p>")
    assert construct in error.value.message and error.value.message.startswith("Line 2:")
