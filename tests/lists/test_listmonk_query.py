"""listmonk's SQL subscriber queries: translated into segment rules, never run; everything else refused by name."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask.testing import FlaskClient


@pytest.fixture
def people(client: FlaskClient, editor: dict[str, str]) -> dict[str, dict[str, object]]:
    """Three subscribers; returns email → the subscriber as the API answered it."""
    made = {}
    for body in (
        {"email": "Taro@Example.com", "name": "山田太郎",
         "attribs": {"city": "大阪", "age": 34, "vip": True, "address": {"pref": "大阪府", "zip": "530-0001"}}},
        {"email": "hanako@docomo.ne.jp", "name": "佐藤花子", "attribs": {"city": "京都", "age": 28, "vip": False}},
        {"email": "jiro@example.org", "name": "Jiro 100%", "status": "blocklisted", "attribs": {}},
    ):
        data = client.post("/api/subscribers", json=body, headers=editor).get_json()["data"]
        made[data["email"].lower()] = data
    return made


def found(client: FlaskClient, headers: dict[str, str], query: str) -> list[str]:
    response = client.get(f"/api/subscribers?per_page=all&query={quote(query)}", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["query"] == query
    return sorted(s["email"].lower() for s in response.get_json()["data"]["results"])


TARO, HANAKO, JIRO = "taro@example.com", "hanako@docomo.ne.jp", "jiro@example.org"


def test_a_subscriber_is_looked_up_by_email_id_and_uuid_as_listmonk_clients_do(
        client: FlaskClient, editor: dict[str, str], people: dict[str, dict[str, object]]) -> None:
    taro = people[TARO]
    # Before the translation these were 400s ("Only email, name, status … can be compared").
    assert found(client, editor, "subscribers.email='taro@example.com'") == [TARO]  # any case, as Kairan keys it
    assert found(client, editor, f"subscribers.id={taro['id']}") == [TARO]
    assert found(client, editor, f"subscribers.uuid='{taro['uuid']}'") == [TARO]
    assert found(client, editor, f"id = {taro['id']}") == [TARO]  # bare column names too
    assert found(client, editor, f"subscribers.id = '{taro['id']}'") == [TARO]  # quoted, as PostgreSQL takes it
    assert found(client, editor, f'"subscribers"."email" = \'{HANAKO}\'') == [HANAKO]


@pytest.mark.parametrize(("query", "expected"), [
    ("subscribers.attribs->>'city' = '大阪'", [TARO]),
    ("attribs->'address'->>'pref' = '大阪府'", [TARO]),  # nested attributes
    ("subscribers.attribs->>'city' ILIKE '%都'", [HANAKO]),
    ("subscribers.name LIKE '%100\\%'", [JIRO]),  # a backslash escapes LIKE's wildcards on both databases
    ("subscribers.email LIKE '%@example.%' AND subscribers.status <> 'blocklisted'", [TARO]),
    ("subscribers.email ILIKE 'TARO@%' OR (subscribers.attribs->>'city' = '京都')", [HANAKO, TARO]),
    ("subscribers.status IN ('enabled', 'disabled')", [HANAKO, TARO]),
    ("subscribers.email NOT IN ('taro@example.com')", [HANAKO, JIRO]),
    ("(subscribers.attribs->>'age')::INT > 30", [TARO]),
    ("subscribers.attribs->>'age' BETWEEN 20 AND 30", [HANAKO]),
    ("30 > (attribs->>'age')::numeric", [HANAKO]),  # a literal on the left
    ("subscribers.attribs->>'vip' = true", [TARO]),
    ("subscribers.attribs->>'city' IS NULL", [JIRO]),
    ("subscribers.attribs->>'city' IS NOT NULL AND NOT subscribers.name = '山田太郎'", [HANAKO]),
    ("subscribers.name IS NULL", []),  # a subscriber's columns are never NULL
    ("subscribers.created_at > '2000-01-01' AND subscribers.updated_at < '2999-12-31 23:59:59'",
     [HANAKO, JIRO, TARO]),
    ("subscribers.id < 0 OR false", []),
])
def test_the_whitelisted_subset_selects_the_same_people_on_every_database(
        client: FlaskClient, editor: dict[str, str], people: dict[str, dict[str, object]], query: str,
        expected: list[str]) -> None:
    assert found(client, editor, query) == expected


@pytest.mark.parametrize(("query", "refused"), [
    ("subscribers.id = (SELECT 1)", "“(SELECT 1)” is not allowed in a query"),
    ("subscribers.id IN (SELECT subscriber_id FROM subscriber_lists)", "is not allowed in a query"),
    ("lower(subscribers.email) = 'a'", "“LOWER(subscribers.email)” is not allowed"),
    ("users.password = 'x'", "“users.password” is not allowed"),
    ("subscribers.password = 'x'", "“subscribers.password” is not allowed"),
    ("subscribers.id = 1; DROP TABLE subscribers", "“;” and further statements are not allowed"),
    ("DROP TABLE subscribers", "“DROP TABLE subscribers” is not allowed"),
    ("subscribers.name = NULL", "“NULL” is not allowed"),
    ("subscribers.attribs = '{}'", "“subscribers.attribs” is not allowed"),
    ("subscribers.attribs->>0 = 'x'", "is not allowed"),
    ("subscribers.email ~ 'a'", "is not allowed"),
    ("subscribers.id = 99999999999999999999", "is not an id"),
    (f"subscribers.id = '{'9' * 5000}'", "is not an id"),  # more digits than Python converts to a number
    (f"subscribers.id = {'9' * 5000}", "is not allowed"),
    ("subscribers.email = 'a' AND", "The query cannot be read at column"),
    ("(" * 40 + "subscribers.id = 1" + ")" * 40, "Parentheses may be nested 16 deep at most"),
    ("created_at >= -'x'", "Compare with a quoted text or a number."),  # Kairan's language; was a 500
])
def test_anything_else_is_400_naming_the_part_refused(client: FlaskClient, editor: dict[str, str],
                                                      query: str, refused: str) -> None:
    response = client.get(f"/api/subscribers?query={quote(query)}", headers=editor)
    assert response.status_code == 400 and refused in response.get_json()["message"]


def test_kairan_expressions_keep_their_meaning(client: FlaskClient, editor: dict[str, str],
                                               people: dict[str, dict[str, object]]) -> None:
    assert found(client, editor, 'attribs.city == "大阪"') == [TARO]
    assert found(client, editor, '"docomo" in email') == [HANAKO]
    # Python syntax that is no Kairan expression is read as SQL, when it is that…
    assert found(client, editor, "subscribers.id in (0, -1)") == []
    # …and otherwise refused with the expression language's reason.
    refused = client.get(f"/api/subscribers?query={quote('city == 1')}", headers=editor)
    assert refused.status_code == 400 and refused.get_json()["message"].startswith("Only email, name, status")


def test_bulk_actions_by_query_take_listmonks_sql(client: FlaskClient, editor: dict[str, str],
                                                  people: dict[str, dict[str, object]]) -> None:
    weekly = client.post("/api/lists", json={"name": "weekly"}, headers=editor).get_json()["data"]["id"]
    added = client.put("/api/subscribers/query/lists", headers=editor, json={
        "query": "subscribers.attribs->>'city' IN ('大阪', '京都')", "action": "add",
        "target_list_ids": [weekly], "status": "confirmed"})
    assert added.status_code == 200 and added.get_json() == {"data": True}
    assert found(client, editor, f"list == {weekly}") == [HANAKO, TARO]
    blocked = client.put("/api/subscribers/query/blocklist", headers=editor,
                         json={"query": "subscribers.email = 'hanako@docomo.ne.jp'", "list_ids": [weekly]})
    assert blocked.status_code == 200
    assert found(client, editor, "subscribers.status = 'blocklisted'") == [HANAKO, JIRO]
    deleted = client.post("/api/subscribers/query/delete", headers=editor,
                          json={"query": "subscribers.status = 'blocklisted'"})
    assert deleted.status_code == 200
    assert found(client, editor, "subscribers.id > 0") == [TARO]
    refused = client.post("/api/subscribers/query/delete", headers=editor,
                          json={"query": "subscribers.id > 0 OR pg_sleep(10) IS NULL"})
    assert refused.status_code == 400 and "“PG_SLEEP(10)” is not allowed" in refused.get_json()["message"]
    everyone = client.post("/api/subscribers/query/delete", headers=editor, json={"all": True})
    assert everyone.status_code == 200 and found(client, editor, "subscribers.id > 0") == []


def test_lists_are_deleted_by_a_name_search_as_listmonk_does(client: FlaskClient, editor: dict[str, str]) -> None:
    for name in ("Weekly news", "週刊 weekly", "monthly", "50% off"):
        client.post("/api/lists", json={"name": name}, headers=editor)

    def names() -> list[str]:
        return sorted(m["name"] for m in client.get("/api/lists?per_page=all", headers=editor).get_json()["data"]
                      ["results"])

    nothing = client.delete("/api/lists", headers=editor)  # before: only ids were taken; still, not everything
    assert nothing.status_code == 400 and names() == ["50% off", "Weekly news", "monthly", "週刊 weekly"]
    assert client.delete("/api/lists?query=WEEKLY", headers=editor).get_json() == {"data": True}
    assert names() == ["50% off", "monthly"]
    assert client.delete("/api/lists?query=0%25%20o", headers=editor).status_code == 200  # % is no wildcard
    assert names() == ["monthly"]
    assert client.delete("/api/lists?all=true", headers=editor).status_code == 200 and names() == []


def test_the_refusal_is_in_the_callers_language(client: FlaskClient, editor: dict[str, str]) -> None:
    response = client.get(f"/api/subscribers?query={quote('subscribers.id = (SELECT 1)')}",
                          headers={**editor, "Accept-Language": "ja"})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("クエリでは「(SELECT 1)」は使えません。")
