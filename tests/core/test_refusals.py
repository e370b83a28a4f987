"""How a refusal reaches the person: under the field it names, in a form that keeps what they typed; its
kind (core/errors.py) sets the API's status, and each package names its own failures."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.errors import ConflictError, NotAChoiceError, NotANumberError
from core.inputs import whole_number
from core.validation import choice
from lists.errors import EmailTakenError, NoListsChosenError, RuleError
from lists.models import ConsentMethod, SubscriberStatus
from lists.segments import rules_from
from lists.subscribers import Consent, create_subscriber
from mailer.errors import SendTimeError
from mailer.scheduling import parse_local_time
from tests.helpers import api_user, login, submit


def field_html(page: str, name: str) -> str:
    """The markup of the form field whose input is named ``name`` (core's field macro: one div per field)."""
    for block in re.findall(r'<div class="field[^"]*">.*?</div>', page, re.DOTALL):
        if f'name="{name}"' in block:
            return str(block)
    raise AssertionError(f"no field {name}")


@pytest.mark.usefixtures("users")
def test_a_refusal_shows_under_the_field_it_names(client: FlaskClient) -> None:
    login(client, "admin")
    submit(client, "/subscribers/", **{"new-email": "taro@example.jp"})
    hanako = submit(client, "/subscribers/", **{"new-email": "hanako@example.jp"}).headers["Location"]
    refused = submit(client, hanako, email="taro@example.jp", name="花子", status="enabled", attribs="{}")
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "E-mail already exists." in field_html(page, "email")
    assert "E-mail already exists." not in field_html(page, "attribs")


@pytest.mark.usefixtures("users")
def test_a_refused_form_comes_back_with_what_was_typed(client: FlaskClient) -> None:
    login(client, "admin")
    submit(client, "/subscribers/", **{"new-email": "taro@example.jp"})
    again = submit(client, "/subscribers/", **{"new-email": "Taro@example.jp", "new-name": "山田太郎"})
    assert again.status_code == 400
    page = again.get_data(as_text=True)
    assert "E-mail already exists." in field_html(page, "new-email") and 'value="山田太郎"' in page

    suppressed = submit(client, "/subscribers/suppressions/", value="not a domain!", reason="complaint")
    assert suppressed.status_code == 400
    page = suppressed.get_data(as_text=True)
    assert "not a domain! is neither an email address nor a domain." in page
    assert 'value="not a domain!"' in page and '<option value="complaint" selected>' in page

    domain = submit(client, "/settings/domains/", domain="news example.jp")
    assert domain.status_code == 400
    page = domain.get_data(as_text=True)
    assert "news example.jp is not a domain." in page and 'value="news example.jp"' in page


@pytest.mark.usefixtures("users")
def test_a_refused_test_send_keeps_the_addresses_typed(app: Flask, client: FlaskClient) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor')}"}
    made = client.post("/api/campaigns", headers=editor, json={"name": "11月号", "subject": "お知らせ",
                                                              "content_type": "html", "body": "<p>本文</p>"})
    preview = f"/campaigns/{made.get_json()['data']['id']}/preview"
    login(client, "editor")
    refused = submit(client, preview, preview.replace("/preview", "/test"), addresses="hanako@example.jp\ntaro@")
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "taro@ has no @ with text on both sides." in page
    assert ">hanako@example.jp\ntaro@</textarea>" in page


def test_each_package_names_its_failures_as_one_of_cores_kinds(app: Flask) -> None:
    with app.test_request_context():
        consent = Consent(ConsentMethod.ADMIN)
        create_subscriber({"email": "taro@example.jp"}, consent)
        with pytest.raises(EmailTakenError) as taken:
            create_subscriber({"email": "TARO@example.jp"}, consent)
        assert isinstance(taken.value, ConflictError) and taken.value.status == 409
        assert (taken.value.message, taken.value.field) == ("E-mail already exists.", "email")
        with pytest.raises(RuleError, match="Give the segment's rules or an expression"):
            rules_from({})
        with pytest.raises(NotANumberError) as number:
            whole_number("２", "port", maximum=10)
        assert number.value.field == "port"
        with pytest.raises(NotAChoiceError, match="status must be one of"):
            choice(SubscriberStatus, "gone", "status")
        with pytest.raises(SendTimeError) as when:
            parse_local_time("tomorrow")
        assert when.value.field == "send_at"
        assert NoListsChosenError().message == "Choose at least one list."


def test_a_flag_is_true_or_false_in_every_api_body(app: Flask, client: FlaskClient) -> None:
    admin = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    refused = client.post("/api/relays", headers=admin, json={"host": "mail.example.jp", "enabled": "no"})
    assert refused.status_code == 400 and refused.get_json() == {"message": "enabled must be true or false."}
    added = client.post("/api/relays", headers=admin, json={"host": "mail.example.jp", "enabled": False})
    assert added.get_json()["data"]["enabled"] is False
