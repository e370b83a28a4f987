"""A listmonk layout pushed through POST /api/templates gets the legal footer it lacks, and says so.

Before, such a layout was refused (400: "A campaign layout needs the sender's name …"), so a
listmonk client's every template, campaign and test call after it failed.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from mailer.outbox import Outbox
from tests.helpers import login, run_jobs

LEGAL_FOOTER_MARK = "<!-- kairan:legal-footer -->"  # where the added footer starts
# listmonk's layout as its users write them: the content slot, the unsubscribe link, nothing about the sender.
LISTMONK_LAYOUT = """<!doctype html>
<html>
<body style="background: #f0f0f0;">
  <div class="wrap">
    {{ template "content" . }}
  </div>
  <p class="footer"><a href="{{ UnsubscribeURL }}">Unsubscribe</a></p>
  {{ TrackView }}
</body>
</html>
"""



def test_a_listmonk_layout_is_saved_with_the_sender_footer_it_lacks(client: FlaskClient,
                                                                    editor: dict[str, str]) -> None:
    response = client.post("/api/templates", headers=editor,
                           json={"name": "listmonk layout", "type": "campaign", "body": LISTMONK_LAYOUT})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert data["legal_footer_added"] is True
    assert data["warnings"] == ["The layout lacked the sender's name, the sender's postal address, a contact point, "
                                "which Japan's Act on Specified Electronic Mail requires: Kairan added a footer "
                                "with them at its end."]
    body = data["body"]
    # Added inside <body>, after the layout's own content; the layout's unsubscribe link is not repeated.
    assert body.index(LEGAL_FOOTER_MARK) < body.index("</body>") and body.count("unsubscribe_url") == 1
    preview = client.get(f"/api/templates/{data['id']}/preview", headers=editor).get_data(as_text=True)
    assert "送信者：回覧商事　大阪市北区1-2-3" in preview and "お問い合わせ：info@kairan.example" in preview
    # Saving what came back changes nothing and adds no second footer.
    again = client.put(f"/api/templates/{data['id']}", headers=editor, json={"body": body}).get_json()["data"]
    assert again["body"] == body and again["legal_footer_added"] is True and "warnings" not in again
    listed = client.get("/api/templates", headers=editor).get_json()["data"]
    assert {t["name"]: t["legal_footer_added"] for t in listed}["listmonk layout"] is True


def test_a_layout_with_nothing_legal_gets_the_whole_footer_in_the_campaigns_language(
        client: FlaskClient, editor: dict[str, str]) -> None:
    data = client.post("/api/templates", headers=editor, json={
        "name": "bare", "type": "campaign", "body": '<div>{{ template "content" . }}</div>'}).get_json()["data"]
    assert data["warnings"][0].startswith("The layout lacked an unsubscribe link, the sender's name")
    campaign = client.post("/api/campaigns", headers=editor, json={
        "name": "English", "subject": "News", "content_type": "html", "body": "<p>Hello</p>",
        "template_id": data["id"], "language": "en"}).get_json()["data"]
    html = client.get(f"/api/campaigns/{campaign['id']}/preview", headers=editor).get_data(as_text=True)
    assert ">unsubscribe</a> at any time." in html and "/u/" in html
    assert "Sender: 回覧商事, 大阪市北区1-2-3" in html and "Contact: info@kairan.example" in html


def test_campaigns_and_test_sends_work_in_it_and_the_checks_say_the_footer_was_added(
        app: Flask, client: FlaskClient, users: dict[str, str], editor: dict[str, str], capture: Outbox) -> None:
    layout = client.post("/api/templates", headers=editor, json={
        "name": "listmonk layout", "type": "campaign", "body": LISTMONK_LAYOUT}).get_json()["data"]
    created = client.post("/api/campaigns", headers=editor, json={
        "name": "11月号", "subject": "お知らせ", "content_type": "html", "body": "<p>本文</p>",
        "template_id": layout["id"]})
    assert created.status_code == 200
    campaign = created.get_json()["data"]
    tested = client.post(f"/api/campaigns/{campaign['id']}/test", headers=editor,
                         json={"subscribers": ["boss@example.jp"]})
    assert tested.status_code == 200
    run_jobs(app)
    entries, total = capture.page(1, 10)
    message = capture.get(entries[0].key)
    assert total == 1 and message is not None and "大阪市北区1-2-3" in (message.html or "")
    login(client, "editor")
    page = client.get(f"/campaigns/{campaign['id']}/preview").get_data(as_text=True)
    assert ("The layout “listmonk layout” lacked the footer the law requires (sender, address, contact, "
            "unsubscribe link): Kairan added one at its end.") in page
