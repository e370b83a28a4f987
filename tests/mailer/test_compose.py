"""Composing through the API and the pages: layouts, drafts, preview and checks, test sends, media."""

from __future__ import annotations

import io
import re
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.db import db
from mailer.domains import unreal_sender
from mailer.models import Campaign
from mailer.outbox import Outbox
from tests.helpers import csrf_token, error_summary, login, png, run_jobs, submit
from tests.mailer.helpers import create

NEWSLETTER = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "newsletter" / "weekly.html"


def test_the_seeded_layouts_render_with_the_legal_footer(client: FlaskClient, editor: dict[str, str]) -> None:
    layouts = client.get("/api/templates", headers=editor).get_json()["data"]
    assert [t["is_default"] for t in layouts].count(True) == 1 and len(layouts) == 3
    for layout in layouts:
        html = client.get(f"/api/templates/{layout['id']}/preview", headers=editor).get_data(as_text=True)
        assert "回覧商事" in html and "大阪市北区1-2-3" in html and "info@kairan.example" in html
        assert "/u/" in html and "配信停止" in html  # the unsubscribe link and the refusal statement


def test_a_layout_without_unsubscribe_link_or_sender_gets_the_legal_footer(client: FlaskClient,
                                                                          editor: dict[str, str]) -> None:
    # More in tests/mailer/test_listmonk_layouts.py; before, such a layout was refused (400).
    response = client.post("/api/templates", headers=editor,
                           json={"name": "bare", "type": "campaign", "body": "<html>{{ content }}</html>"})
    assert response.status_code == 200 and response.get_json()["data"]["legal_footer_added"] is True
    slotless = client.post("/api/templates", headers=editor, json={"name": "x", "type": "campaign", "body": "<p></p>"})
    assert slotless.status_code == 400 and "{{ content }} slot" in slotless.get_json()["message"]
    # A transactional template is the whole mail and needs no campaign footer.
    response = client.post("/api/templates", headers=editor,
                           json={"name": "receipt", "type": "tx", "subject": "ご注文 {{ .Tx.Data.order }}",
                                 "body": "<p>{{ .Tx.Data.order }}</p>"})
    assert response.status_code == 200
    assert response.get_json()["data"]["subject"] == "ご注文 {{ tx.data.order }}"


def test_template_errors_name_their_line_and_escapes_are_refused(client: FlaskClient,
                                                                 editor: dict[str, str]) -> None:
    template = client.get("/api/templates", headers=editor).get_json()["data"][0]
    broken = template["body"].replace("{{ content }}", "{{ content }}\n{% if subscriber.name %}")
    response = client.put(f"/api/templates/{template['id']}", headers=editor, json={"body": broken})
    assert response.status_code == 400
    line = broken[:broken.index("{% if subscriber.name %}")].count("\n") + 1
    assert response.get_json()["message"].startswith(f"Line {line}:")
    escape = template["body"].replace("{{ content }}", "{{ content }}{{ ''.__class__.__mro__ }}")
    response = client.put(f"/api/templates/{template['id']}", headers=editor, json={"body": escape})
    assert response.status_code == 400 and "__mro__” is not allowed" in response.get_json()["message"]
    # Nothing was saved by either attempt.
    assert client.get(f"/api/templates/{template['id']}", headers=editor).get_json()["data"]["body"] == template["body"]


def test_a_listmonk_layout_is_accepted_and_renders_like_its_jinja_twin(client: FlaskClient,
                                                                       editor: dict[str, str]) -> None:
    footer = "<p>{{ sender.name }} {{ sender.address }} {{ sender.contact }}</p>"
    bodies = {
        "listmonk": '<div>{{ template "content" . }}<a href="{{ UnsubscribeURL }}">停止</a>' + footer + "</div>",
        "jinja": '<div>{{ content }}<a href="{{ unsubscribe_url }}">停止</a>' + footer + "</div>",
    }
    rendered = {}
    for name, body in bodies.items():
        saved = client.post("/api/templates", headers=editor, json={"name": name, "body": body}).get_json()["data"]
        assert saved["body"] == bodies["jinja"]
        rendered[name] = client.get(f"/api/templates/{saved['id']}/preview", headers=editor).get_data(as_text=True)
    assert rendered["listmonk"] == rendered["jinja"]


def test_preview_personalises_for_a_subscriber_and_counts_nothing(app: Flask, client: FlaskClient,
                                                                  editor: dict[str, str]) -> None:
    client.post("/api/subscribers", headers=editor,
                json={"email": "hanako@example.jp", "name": "佐藤 花子", "attribs": {"city": "神戸"}})
    reader = client.get("/api/subscribers", headers=editor).get_json()["data"]["results"][0]
    campaign = create(client, editor, body='<p>{{ subscriber.attribs.city | default("どこか") }}の'
                                           '{{ subscriber.name }}様</p><p>{{ coupon }}</p>'
                                           '<a href="https://shop.example.jp/sale">セール</a>')
    assert campaign["warnings"] == ["Body: Line 1: unknown variable “coupon” (it will be empty)."]
    html = client.get(f"/api/campaigns/{campaign['id']}/preview?subscriber_id={reader['id']}",
                      headers=editor).get_data(as_text=True)
    assert "神戸の佐藤 花子様" in html and 'href="https://shop.example.jp/sale"' in html
    assert client.get(f"/api/campaigns/{campaign['id']}/preview", headers=editor).get_data(as_text=True).count(
        "どこかの") == 1  # a sample reader
    with app.app_context():
        from core.db import db
        from mailer.models import Link
        assert db.session.query(Link).count() == 0  # previews record no links


def test_checks_panel_reports_what_to_fix(app: Flask, client: FlaskClient, users: dict[str, str],
                                          editor: dict[str, str]) -> None:
    campaign = create(client, editor, charset="iso-2022-jp",
                      body='<img src="https://x.example/a.png"><a href="http://insecure.example/">①㈱髙橋</a>'
                           '<a class="button">Button</a>')
    login(client, "editor")
    page = client.get(f"/campaigns/{campaign['id']}/preview").get_data(as_text=True)
    assert "1 of 1 images have no alt text" in page
    assert "mostly images" in page
    assert "not https: http://insecure.example/" in page
    assert "ISO-2022-JP cannot carry these characters: ① ㈱ 髙" in page
    assert "Add a preheader" in page
    assert "1 links or buttons go nowhere" in page


def test_the_preview_captions_the_phone_frame_in_full_width_parentheses_in_japanese(
        client: FlaskClient, users: dict[str, str], editor: dict[str, str]) -> None:
    campaign = create(client, editor)
    login(client, "editor")
    japanese = client.get(f"/campaigns/{campaign['id']}/preview", headers={"Accept-Language": "ja"})
    assert "<figcaption>スマートフォン（375 px）</figcaption>" in japanese.get_data(as_text=True)
    english = client.get(f"/campaigns/{campaign['id']}/preview", headers={"Accept-Language": "en"})
    assert "<figcaption>Phone (375 px)</figcaption>" in english.get_data(as_text=True)


def test_the_newsletter_compiles_once_with_its_links_collected(app: Flask) -> None:
    if not NEWSLETTER.exists():
        pytest.skip("../shared/testdata/newsletter is not on this machine")
    from mailer.compiler import compile_message
    with app.app_context():
        compiled = compile_message(NEWSLETTER.read_text(encoding="utf-8"), None)
    assert len(compiled.urls) == 26 and all(u.startswith("https://") for u in compiled.urls)
    assert "<style" in compiled.html_source and "@media" in compiled.html_source  # media queries stay,
    assert "!important" in compiled.html_source  # still able to override the inlined widths on phones
    assert 'style="' in compiled.html_source  # the other rules were inlined
    html, text = compiled.render({"first_name": "太郎", "last_name": "山田", "city": "大阪",
                                  "unsubscribe_url": "https://k.example/u/t"})
    assert "{{" not in html and "山田様" in text and "[Scaling PostgreSQL" in text
    assert "https://blog.example.com/articles/001-scaling-postgresql-to-a-billion-rows" in text


def test_a_test_send_reaches_the_outbox_marked_and_personalised(app: Flask, client: FlaskClient,
                                                                capture: Outbox, editor: dict[str, str]) -> None:
    client.post("/api/subscribers", headers=editor, json={"email": "hanako@example.jp", "name": "佐藤 花子"})
    reader = client.get("/api/subscribers", headers=editor).get_json()["data"]["results"][0]
    campaign = create(client, editor, body="<p>{{ subscriber.name }}様、こんにちは</p>")
    response = client.post(f"/api/campaigns/{campaign['id']}/test", headers=editor,
                           json={"subscribers": ["boss@example.com", "ｔｅｓｔ＠example.jp"],
                                 "subscriber_id": reader["id"]})
    assert response.get_json() == {"data": True}
    run_jobs(app)
    messages = capture.page(1, 10)[0]
    assert sorted(m.to for m in messages) == ["boss@example.com", "test@example.jp"]
    message = capture.get(messages[0].key)
    assert message is not None and message.entry.subject == "[Test] 佐藤 花子様へ 11月のお知らせ"
    assert "佐藤 花子様、こんにちは" in (message.html or "") and "佐藤 花子様、こんにちは" in (message.text or "")
    assert "X-Kairan-Test: 1" in message.raw and "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in message.raw
    # Nobody is a test recipient without an address.
    assert client.post(f"/api/campaigns/{campaign['id']}/test", headers=editor, json={}).status_code == 400


def test_media_upload_checks_type_and_serves_with_cache_headers(client: FlaskClient, editor: dict[str, str]) -> None:
    response = client.post("/api/media", headers=editor, data={"file": (io.BytesIO(png()), "バナー.png")})
    assert response.status_code == 200
    media = response.get_json()["data"]
    assert (media["width"], media["height"], media["content_type"]) == (40, 20, "image/png")
    served = client.get(media["url"].split("//", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert served.status_code == 200 and served.data == png() and "max-age=31536000" in served.headers["Cache-Control"]
    fake = client.post("/api/media", headers=editor, data={"file": (io.BytesIO(b"<?php echo 1; ?>"), "x.png")})
    assert fake.status_code == 400 and "not a PNG, JPEG, GIF or WebP image" in fake.get_json()["message"]
    assert len(client.get("/api/media", headers=editor).get_json()["data"]) == 1
    assert client.delete(f"/api/media/{media['id']}", headers=editor).get_json() == {"data": True}


def test_content_converts_between_formats_keeping_jinja(client: FlaskClient, editor: dict[str, str]) -> None:
    campaign = create(client, editor, body="")
    url = f"/api/campaigns/{campaign['id']}/content"
    markdown = "# {{ subscriber.name }}様\n\n**セール**は[こちら](https://shop.example.jp)"
    html = client.post(url, headers=editor,
                       json={"body": markdown, "from": "markdown", "to": "html"}).get_json()["data"]
    assert html == ('<h1>{{ subscriber.name }}様</h1>\n<p><strong>セール</strong>は'
                    '<a href="https://shop.example.jp">こちら</a></p>\n')
    text = client.post(url, headers=editor, json={"body": html, "from": "html", "to": "plain"}).get_json()["data"]
    assert text.startswith("{{ subscriber.name }}様") and "[こちら](https://shop.example.jp)" in text
    as_markdown = client.post(url, headers=editor, json={"body": html, "from": "html", "to": "markdown"})
    assert as_markdown.get_json()["data"] == text  # by way of plain text, which is Markdown
    unknown = client.post(url, headers=editor, json={"body": html, "from": "html", "to": "docx"})
    assert unknown.status_code == 400 and "to must be one of" in unknown.get_json()["message"]


def test_changing_the_editing_mode_converts_the_body(client: FlaskClient, editor: dict[str, str]) -> None:
    campaign = create(client, editor, content_type="markdown", body="# {{ subscriber.name }}様\n\n**春**です")
    changed = client.put(f"/api/campaigns/{campaign['id']}", headers=editor, json={"content_type": "html"})
    assert changed.get_json()["data"]["body"] == "<h1>{{ subscriber.name }}様</h1>\n<p><strong>春</strong>です</p>\n"


def test_the_pages_save_a_draft_and_show_a_syntax_error_with_its_line(client: FlaskClient,
                                                                      users: dict[str, str]) -> None:
    login(client, "editor")
    response = submit(client, "/campaigns/new", name="春の案内", subject="春です", content_type="markdown",
                      body="# こんにちは\n\n{{ subscriber.name", language="ja", charset="utf-8")
    assert response.status_code == 400
    assert "Line 3:" in response.get_data(as_text=True)
    response = submit(client, "/campaigns/new", name="春の案内", subject="春です", content_type="markdown",
                      body="# こんにちは {{ subscriber.name }}様", language="ja", charset="utf-8")
    assert response.status_code == 302
    page = client.get(response.headers["Location"] + "/preview")
    assert page.status_code == 200 and "春です" in page.get_data(as_text=True)
    assert client.get("/campaigns/").get_data(as_text=True).count('data-campaign="春の案内"') == 1  # saved once


def test_the_archive_shows_sent_campaigns_of_public_lists_only(app: Flask, client: FlaskClient,
                                                               editor: dict[str, str]) -> None:
    public = client.post("/api/lists", headers=editor, json={"name": "お知らせ", "type": "public"}).get_json()["data"]
    private = client.post("/api/lists", headers=editor, json={"name": "社内", "type": "private"}).get_json()["data"]
    shown = create(client, editor, name="公開", subject="冬のセール & 福袋", archive=True, lists=[public["id"]],
                   body="<p>{{ subscriber.name }}様</p>")
    hidden = [create(client, editor, name="社内", subject="社内向け", archive=True, lists=[private["id"]]),
              create(client, editor, name="非公開", subject="ウェブ版なし", archive=False, lists=[public["id"]]),
              create(client, editor, name="下書き", subject="まだ下書き", archive=True, lists=[public["id"]])]
    with app.app_context():
        from core.db import db
        from mailer.models import Campaign, CampaignStatus
        for campaign in db.session.scalars(db.select(Campaign).where(
                Campaign.id.in_([shown["id"], hidden[0]["id"], hidden[1]["id"]]))):
            campaign.status = CampaignStatus.FINISHED  # as the send issue will
        db.session.commit()
    index = client.get("/archive", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "冬のセール &amp; 福袋" in index  # the subject rendered once, as text, then escaped by the page
    assert not any(h["subject"] in index for h in hidden)
    page = client.get(f"/archive/{shown['uuid']}")
    assert page.status_code == 200 and ">Reader様</p>" in page.get_data(as_text=True)  # nobody's data
    assert client.get(f"/archive/{hidden[0]['uuid']}").status_code == 404
    assert client.get(f"/archive/{hidden[2]['uuid']}").status_code == 404
    # The mail's "view in browser" link is the web version.
    preview = client.get(f"/api/campaigns/{shown['id']}/preview", headers=editor).get_data(as_text=True)
    assert f"/archive/{shown['uuid']}" in preview


def test_links_are_recorded_once_per_campaign_and_helpers_are_not_tracked(app: Flask, client: FlaskClient,
                                                                          editor: dict[str, str]) -> None:
    body = ('<a href="https://shop.example.jp/a">A</a> <a href="https://shop.example.jp/a">A again</a> '
            '<a href="mailto:info@example.jp">mail</a> <a href="tel:0312345678">tel</a> <a href="#top">top</a> '
            '<a href="{{ preferences_url }}">preferences</a> <a href="https://shop.example.jp/b?x=1&amp;y=2">B</a>')
    campaign = create(client, editor, body=body, template_id=None)
    with app.app_context():
        from mailer.campaigns import compile_campaign, get_campaign, save_links
        found = get_campaign(campaign["id"])
        compiled = compile_campaign(found)
        assert compiled.urls == ("https://shop.example.jp/a", "https://shop.example.jp/b?x=1&y=2")
        first = save_links(found, compiled.urls)
        assert save_links(found, compiled.urls) == first and len(set(first)) == 2  # recorded once
        html, _text = compiled.render({"preferences_url": "https://k.example/p/t"}, ["T0", "T1"])
    assert html.count('href="T0"') == 2 and 'href="T1"' in html
    assert 'href="mailto:info@example.jp"' in html and 'href="https://k.example/p/t"' in html


def test_the_visual_editors_body_goes_into_the_layout_without_its_body_tag(app: Flask) -> None:
    from mailer.compiler import body_html
    from mailer.models import ContentType
    with app.app_context():
        html = body_html(ContentType.VISUAL, '<body id="x1"><h1 id="i7hp">見出し</h1></body>')
    assert html == '<h1 id="i7hp">見出し</h1>'


def test_iso_2022_jp_messages_carry_html_only_characters_as_references(app: Flask, client: FlaskClient,
                                                                       capture: Outbox,
                                                                       editor: dict[str, str]) -> None:
    campaign = create(client, editor, charset="iso-2022-jp", body="<p>{{ subscriber.name }}様、お知らせです。</p>")
    client.post(f"/api/campaigns/{campaign['id']}/test", headers=editor, json={"subscribers": ["boss@example.jp"]})
    run_jobs(app)  # the layout's preheader padding (U+200B) is not in ISO-2022-JP
    message = capture.get(capture.page(1, 1)[0][0].key)
    assert message is not None and "charset=iso-2022-jp" in message.raw
    assert "お知らせです" in (message.html or "") and "お知らせです" in (message.text or "")
    # A character the text part cannot carry is refused before anything is queued, with the reason.
    bad = create(client, editor, charset="iso-2022-jp", body="<p>①㈱のお知らせ</p>")
    refused = client.post(f"/api/campaigns/{bad['id']}/test", headers=editor, json={"subscribers": ["b@example.jp"]})
    assert refused.status_code == 400 and "ISO-2022-JP" in refused.get_json()["message"]


@pytest.mark.parametrize(("sender", "real"), [
    ("回覧商事 <kairan@127.0.0.1>", False), ("news@[192.0.2.1]", False), ("news@localhost", False),
    ("news@intranet", False), ("news@shop.local", False), ("news@example.com", False), ("a@b.test", False),
    ("news@kairan.co.jp", True), ("回覧商事 <news@mail.kairan.jp>", True),
])
def test_a_sender_whose_domain_cannot_be_real_is_named(app: Flask, sender: str, real: bool) -> None:
    with app.test_request_context():
        assert (unreal_sender(sender) is None) is real


def test_the_default_sender_at_127_0_0_1_is_warned_of_on_the_campaign_page_and_in_checks(
        client: FlaskClient, users: dict[str, str], editor: dict[str, str]) -> None:
    default = create(client, editor, body="<p>こんにちは</p>")
    own = create(client, editor, body="<p>こんにちは</p>", from_email="回覧商事 <news@kairan.co.jp>")
    login(client, "editor")
    warning = "is not a real mail domain"
    assert warning in client.get(f"/campaigns/{default['id']}/preview").get_data(as_text=True)
    assert warning in client.get(f"/campaigns/{default['id']}").get_data(as_text=True)
    assert warning not in client.get(f"/campaigns/{own['id']}/preview").get_data(as_text=True)
    assert warning not in client.get(f"/campaigns/{own['id']}").get_data(as_text=True)


def test_the_new_campaign_form_submitted_twice_saves_one_draft(app: Flask, client: FlaskClient,
                                                                users: dict[str, str]) -> None:
    """The form carries the new campaign's uuid: a second submit of the same form saves over the first draft."""
    login(client, "editor")
    page = client.get("/campaigns/new").get_data(as_text=True)
    draft = re.search(r'name="draft" value="([0-9a-f-]{36})"', page)
    assert draft, "the new-campaign form carries a uuid for the draft"
    fields = {"csrf_token": csrf_token(client, "/campaigns/new"), "name": "冬の案内", "subject": "冬です",
              "content_type": "markdown", "body": "# こんにちは", "language": "ja", "charset": "utf-8",
              "draft": draft[1]}
    first = client.post("/campaigns/new", data=fields)
    second = client.post("/campaigns/new", data={**fields, "body": "# こんばんは"})
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]  # the same campaign, saved twice
    with app.app_context():
        drafts = db.session.scalars(select(Campaign).where(Campaign.name == "冬の案内")).all()
        assert len(drafts) == 1 and drafts[0].uuid == draft[1] and drafts[0].body == "# こんばんは"
    # A form without a uuid (or with a bad one) still saves, as before.
    third = client.post("/campaigns/new", data={**fields, "draft": "not-a-uuid"})
    assert third.status_code == 302 and third.headers["Location"] != first.headers["Location"]


def test_an_empty_draft_without_a_layout_previews(client: FlaskClient, users: dict[str, str],
                                                  editor: dict[str, str]) -> None:
    """Nothing to inline: premailer found no document in an empty body and the preview answered 500."""
    campaign = create(client, editor, body="", template_id=None)
    assert client.get(f"/api/campaigns/{campaign['id']}/preview", headers=editor).status_code == 200
    login(client, "editor")
    assert client.get(f"/campaigns/{campaign['id']}/preview").status_code == 200


def test_a_refused_campaign_form_names_every_problem_by_its_label_and_keeps_what_was_typed(
        app: Flask, client: FlaskClient, users: dict[str, str], editor: dict[str, str]) -> None:
    login(client, "editor")
    page = submit(client, "/campaigns/new", name="", subject="{{ oops", from_email="not an address",
                  rate_per_minute="0", send_window_start="09:00", send_window_end="", content_type="markdown",
                  body="# 春 {{ subscriber.name", language="ja", charset="utf-8", preheader="春のお知らせ",
                  ab_form="1", ab_enabled="on", variant_count="2", test_share="20", wait_hours="99", measure="opens")
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    # One summary above the form names every refused field by its label, in the page's order, and links to it.
    assert error_summary(html)[1] == [
        ("name", "Campaign name: Enter the campaign's name."),
        ("subject", "Subject: Line 1: “{{” is not closed with “}}”."),
        ("from_email", "From is not an address: not an address"),  # it names its field: not prefixed again
        ("rate_per_minute", "Sending speed (messages a minute) must be a whole number from 1 to 2147483647."),
        ("send_window_end", "Sending window end: A sending window needs both a start and an end, such as 09:00 and "
                            "20:00."),
        ("wait_hours", "Wait before choosing the winner (hours, 1–72): The wait before the winner is chosen must be "
                       "1 to 72 hours (got 99)."),
        ("content", "Content: Line 1: “{{” is not closed with “}}”.")]
    for field in ("name", "subject", "from_email", "rate_per_minute", "send_window_end", "wait_hours", "content"):
        assert f'id="{field}"' in html  # where each link puts the focus
    assert html.count('<p class="error" id=') == 7  # and each message under its own field
    assert 'aria-invalid="true" aria-describedby="from_email-error"' in html
    # What was typed is kept, the A/B test's part open with it; nothing was saved.
    for kept in ('value="{{ oops"', 'value="not an address"', 'value="0"', 'value="09:00"', 'value="春のお知らせ"',
                 'value="99"', "# 春 {{ subscriber.name</textarea>"):
        assert kept in html
    assert re.search(r'<details class="card ab-test" open', html)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0
    # Fixed, it saves.
    saved = submit(client, "/campaigns/new", name="春の案内", subject="春です", content_type="markdown",
                   body="# 春", language="ja", charset="utf-8", rate_per_minute="60")
    assert saved.status_code == 302
    # The API still answers one message, the first, naming the parameter.
    answer = client.post("/api/campaigns", headers=editor, json={"name": "", "subject": "件名", "rate_per_minute": 0})
    assert answer.status_code == 400
    assert answer.get_json() == {"message": "Enter the campaign's name."}
    answer = client.post("/api/campaigns", headers=editor, json={"name": "x", "subject": "件名", "rate_per_minute": 0})
    assert answer.get_json() == {"message": "rate_per_minute must be a whole number from 1 to 2147483647."}


def test_the_campaign_forms_refusals_are_in_japanese(client: FlaskClient, users: dict[str, str]) -> None:
    login(client, "editor")
    client.post("/language", data={"csrf_token": csrf_token(client, "/"), "language": "ja"})
    page = submit(client, "/campaigns/new", name="", subject="", rate_per_minute="0", content_type="markdown",
                  body="本文", language="ja", charset="utf-8")
    html = unescape(page.get_data(as_text=True))
    assert page.status_code == 400
    assert "キャンペーンは保存されていません" in html
    # Each message names its field already, so the summary does not say the label twice (「件名：件名を…」).
    rate = "送信速度（1分あたりの通数）には 1 から 2147483647 までの整数を入力してください。"
    assert error_summary(html)[1] == [("name", "キャンペーン名を入力してください。"),
                                      ("subject", "件名を入力してください。"), ("rate_per_minute", rate)]
    assert f'<p class="error" id="rate_per_minute-error">{rate}</p>' in html  # and under its field as it was
