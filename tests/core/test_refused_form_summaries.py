"""Forms whose fields sit far down their page (a relay's, a list's, a subscriber's, a user's, a campaign's) say a
refusal at the top too: the error summary that takes the focus (macros.html, kairan.js), each problem linking to its
field."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import api_user, error_summary, login, submit


@pytest.mark.parametrize(("page", "action", "data", "title", "problem"), [
    ("/settings/relays/new", None, {"name": "SES", "host": "smtp.example.jp", "port": "587", "security": "starttls",
                                    "max_connections": "4", "weight": "1", "rate_per_second": "fast"},
     "The relay was not saved", "rate_per_second"),
    ("/lists/", None, {"name": "", "type": "private", "optin": "single"}, "The list was not created", "name"),
    ("/subscribers/", None, {"new-email": "jiro@example", "new-name": "次郎", "new-status": "enabled"},
     "The subscriber was not added", "new-email"),
    ("/users/", None, {"user-username": "hana", "user-password": "short", "user-role": "editor",
      "user-language": ""},
     "The user was not added", "user-password"),
    ("/users/", "/users/tokens", {"token-username": "", "token-role": "viewer"}, "The API user was not created",
     "token-username"),
    ("/campaigns/new", None, {"name": "春の案内", "subject": "春です", "content_type": "markdown", "body": "# 春",
                              "language": "ja", "charset": "utf-8", "rate_per_minute": "fast"},
     "The campaign was not saved", "rate_per_minute"),
])
def test_a_refused_form_is_summed_up_at_the_top(client: FlaskClient, users: dict[str, str], page: str,
                                                action: str | None, data: dict[str, Any], title: str,
                                                problem: str) -> None:
    login(client, "admin")
    refused = submit(client, page, action, **data)
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    shown_title, links = error_summary(html)
    assert shown_title == title and [field for field, _text in links] == [problem]
    assert html.index("data-error-summary") < html.index(f'id="{problem}"')  # above the field, which has the id
    assert html.count("data-error-summary") == 1  # one summary, for the form that was refused


def test_a_list_refused_on_its_page_is_summed_up_at_the_top(app: Flask, client: FlaskClient,
                                                            users: dict[str, str]) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    made = client.post("/api/lists", headers=admin, json={"name": "週刊"}).get_json()["data"]
    login(client, "admin")
    refused = submit(client, f"/lists/{made['id']}", name="", type="private", optin="single")
    assert refused.status_code == 400
    title, links = error_summary(refused.get_data(as_text=True))
    assert title == "The list was not saved" and [field for field, _text in links] == ["name"]
    assert "<h1>週刊</h1>" in refused.get_data(as_text=True)
