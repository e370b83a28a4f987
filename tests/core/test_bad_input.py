"""Bad input anywhere in the API gets a clear 400 (or a 404 for an id no route can name), never a 500."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.errors import ValidationError
from core.inputs import MAX_JSON_DEPTH
from tests.helpers import api_user, login
from tracking.provider_events import json_payload

TOO_BIG = "9223372036854775808"  # 2⁶³: one more than SQLite's INTEGER and PostgreSQL's BIGINT hold


@pytest.fixture
def api(app: Flask, client: FlaskClient) -> FlaskClient:
    """The test client, sending an admin API token with every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin')}"
    return client


def message(response: object) -> tuple[int, str]:
    """The status and the JSON error message of an answer."""
    return response.status_code, response.get_json()["message"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/api/lists/" + TOO_BIG, "/api/subscribers/" + TOO_BIG,
                                  "/api/campaigns/" + TOO_BIG, "/api/campaigns/99999999999999999999/preview",
                                  "/api/templates/" + TOO_BIG, "/api/bounces/" + TOO_BIG])
def test_an_id_beyond_64_bits_names_no_route(api: FlaskClient, path: str) -> None:
    assert message(api.get(path)) == (404, "Unknown endpoint.")


def test_ids_stop_at_what_an_id_column_holds(api: FlaskClient) -> None:
    # PostgreSQL's INTEGER ids: 2³¹−1 is an unknown list, 2³¹ cannot be one (it used to reach the query and fail).
    assert message(api.get("/api/lists/2147483647")) == (400, "List not found.")
    assert message(api.get("/api/lists/2147483648")) == (404, "Unknown endpoint.")
    assert message(api.get("/api/campaigns/2147483648/report")) == (404, "Unknown endpoint.")


@pytest.mark.parametrize("query", ["page=99999999999999999999", "per_page=99999999999999999999",
                                   "page=%C2%B2", "list_id=" + TOO_BIG, "segment_id=99999999999999999999"])
def test_paging_and_filter_numbers_beyond_64_bits_are_refused(api: FlaskClient, query: str) -> None:
    status, text = message(api.get(f"/api/subscribers?{query}"))
    assert status == 400 and text.startswith(query.split("=", 1)[0] + " must be a whole number")


def test_a_page_past_any_row_is_empty(api: FlaskClient) -> None:
    data = api.get("/api/lists?page=9223372036854775807&per_page=1000").get_json()["data"]
    assert (data["results"], data["page"]) == ([], 9223372036854775807)


@pytest.mark.parametrize(("lists", "expected"), [
    (["abc"], "lists must be a whole number from 1 to 2147483647."),
    ([{}], "lists must be a whole number from 1 to 2147483647."),
    ("x", "lists must be a list of ids."),
    ([int(TOO_BIG)], "lists must be a whole number from 1 to 2147483647."),
])
def test_campaign_lists_must_be_ids(api: FlaskClient, lists: object, expected: str) -> None:
    response = api.post("/api/campaigns", json={"name": "n", "subject": "s", "lists": lists})
    assert message(response) == (400, expected)


def test_campaign_lists_as_an_infinite_number_are_refused(api: FlaskClient) -> None:
    body = '{"name": "n", "subject": "s", "lists": [1e999]}'  # Python's JSON reads it as inf
    response = api.post("/api/campaigns", data=body, content_type="application/json")
    assert message(response) == (400, "lists must be a whole number from 1 to 2147483647.")


@pytest.mark.parametrize("field", ["template_id", "segment_id"])
def test_campaign_template_and_segment_must_be_ids(api: FlaskClient, field: str) -> None:
    response = api.post("/api/campaigns", json={"name": "n", "subject": "s", field: TOO_BIG})
    assert message(response) == (400, f"{field} must be a whole number from 1 to 2147483647.")


def test_a_campaign_rate_must_fit_its_column(api: FlaskClient) -> None:
    response = api.post("/api/campaigns", json={"name": "n", "subject": "s", "rate_per_minute": 2**31})
    # PostgreSQL's INTEGER column refused it: a 500
    assert message(response) == (400, "rate_per_minute must be a whole number from 1 to 2147483647.")


def test_a_test_send_as_a_subscriber_needs_a_subscriber_id(api: FlaskClient) -> None:
    campaign = api.post("/api/campaigns", json={"name": "n", "subject": "s"}).get_json()["data"]
    for subscriber_id in ("abc", TOO_BIG, [1]):
        response = api.post(f"/api/campaigns/{campaign['id']}/test",
                            json={"subscribers": ["a@example.jp"], "subscriber_id": subscriber_id})
        assert response.status_code == 400 and "subscriber_id must be a whole number" in response.get_json()["message"]


@pytest.mark.parametrize("ids", ["x", "1,x", TOO_BIG])
def test_id_parameters_are_whole_numbers(api: FlaskClient, ids: str) -> None:
    for path in (f"/api/lists?id={ids}", f"/api/bounces?id={ids}"):
        status, text = message(api.delete(path))
        assert status == 400 and text.startswith("id must be a whole number")
    status, text = message(api.get(f"/api/campaigns/running/stats?campaign_id={ids}"))
    assert status == 400 and text.startswith("campaign_id must be a whole number")


def test_subscriber_ids_in_a_body_are_a_list_of_ids(api: FlaskClient) -> None:
    # "12" used to be read as the ids 1 and 2.
    assert message(api.put("/api/subscribers/blocklist", json={"ids": "12"})) == (400, "ids must be a list of ids.")
    assert message(api.put("/api/subscribers/blocklist", json={"ids": [TOO_BIG]}))[0] == 400


def deep(levels: int) -> str:
    """Attributes nested ``levels`` objects deep, as JSON text."""
    return '{"a": ' * levels + "1" + "}" * levels


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, 5000])
def test_attributes_nested_too_deep_are_refused(api: FlaskClient, levels: int) -> None:
    body = '{"email": "deep@example.jp", "name": "Deep", "attribs": ' + deep(levels) + "}"
    response = api.post("/api/subscribers", data=body, content_type="application/json")
    assert message(response) == (400, f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.")


def test_attributes_within_the_depth_are_kept(api: FlaskClient) -> None:
    body = '{"email": "deep@example.jp", "name": "Deep", "attribs": ' + deep(MAX_JSON_DEPTH - 2) + "}"
    response = api.post("/api/subscribers", data=body, content_type="application/json")
    assert response.status_code == 200


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null", "{", "\xff"])
def test_a_body_that_is_not_a_json_object_is_refused(api: FlaskClient, body: str) -> None:
    response = api.post("/api/lists", data=body.encode("latin-1"), content_type="application/json")
    assert message(response) == (400, "Send a JSON object in the request body.")


def test_a_gzip_file_uploaded_as_csv_is_refused(api: FlaskClient, app: Flask) -> None:
    lists = api.post("/api/lists", json={"name": "会報"}).get_json()["data"]
    packed = gzip.compress(b"email,name\r\n" + b"a@example.jp,A\r\n" * 200)
    response = api.post("/api/import/subscribers", content_type="multipart/form-data", data={
        "params": json.dumps({"mode": "subscribe", "lists": [lists["id"]]}),
        "file": (io.BytesIO(packed), "subscribers.csv")})
    assert message(response) == (400, "The file is not a CSV file: it is compressed or binary. Upload the CSV itself.")


@pytest.mark.parametrize("params", ['{"lists": [1', "[1]", '{"lists": "x"}'])
def test_import_params_must_be_a_json_object(api: FlaskClient, params: str) -> None:
    response = api.post("/api/import/subscribers", content_type="multipart/form-data", data={
        "params": params, "file": (io.BytesIO(b"email\r\na@example.jp\r\n"), "x.csv")})
    assert response.status_code == 400


def test_api_json_is_utf8_not_escaped(api: FlaskClient) -> None:
    response = api.post("/api/lists", json={"name": "会員"})
    assert "会員".encode() in response.data and b"\\u" not in response.data
    assert response.get_json()["data"]["name"] == "会員"


@pytest.mark.parametrize("expression", ["{% for i in range(10**6) %}{% endfor %}", "{{ 10**5000 }}",
                                        "{{ '%d' % 1e999 }}", "{{ range(3) | join(1) }}"])
def test_previews_that_cannot_render_are_refused(api: FlaskClient, expression: str) -> None:
    layout = "<html><body>" + expression + '{{ template "content" . }}</body></html>'
    response = api.post("/api/templates/preview", json={"type": "campaign", "body": layout})
    assert response.status_code == 400, response.data
    campaign = api.post("/api/campaigns", json={"name": "n", "subject": "s"}).get_json()["data"]
    response = api.post(f"/api/campaigns/{campaign['id']}/preview", json={"body": "<p>" + expression + "</p>"})
    assert response.status_code == 400, response.data


def test_text_with_nul_is_refused(api: FlaskClient) -> None:
    # PostgreSQL cannot store NUL in text: the list name and the search reached it and failed.
    refused = (400, "Text may not contain the NUL character (\\u0000).")
    assert message(api.post("/api/lists", json={"name": "会\x00報"})) == refused
    assert message(api.get("/api/subscribers?search=a%00b")) == refused
    assert message(api.post("/api/import/subscribers", content_type="multipart/form-data", data={
        "params": '{"delim": "\\u0000"}', "file": (io.BytesIO(b"email\r\na@example.jp\r\n"), "x.csv")})) == refused


def test_provider_webhooks_bound_json_depth_too(app: Flask) -> None:
    # SendGrid's and the other providers' bodies are parsed by the same bounded reader (arrays allowed).
    with app.app_context():
        assert json_payload(b"[[1]]") == [[1]]
        with pytest.raises(ValidationError, match="nested more than"):
            json_payload(("[" * 5000 + "]" * 5000).encode())


@pytest.mark.parametrize("query", ["list_id=%C2%B2", "segment_id=99999999999999999999", "before=%C2%B2",
                                   "before=99999999999999999999"])
def test_ui_filters_ignore_numbers_they_cannot_use(client: FlaskClient, users: dict[str, str], query: str) -> None:
    # str.isdigit() accepts "²", which int() refuses; a number beyond an id column failed in the query.
    login(client, "admin")
    assert client.get(f"/subscribers/?{query}").status_code == 200
    assert client.get("/subscribers/bounces/?page=%C2%B2&campaign_id=99999999999999999999").status_code == 200
    assert client.get("/outbox/?page=%C2%B2").status_code == 200
    assert client.get("/subscribers/99999999999999999999").status_code == 404
