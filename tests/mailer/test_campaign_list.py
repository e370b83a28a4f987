"""GET /api/campaigns as listmonk filters, orders and pages it, and GET /api/campaigns/running/stats."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from mailer.outbox import Outbox
from tests.helpers import api_user, csrf_token, login, run_jobs, submit
from tests.mailer.helpers import audience


def names(response: Any) -> list[str]:
    return [c["name"] for c in response.get_json()["data"]["results"]]


def test_the_campaign_list_filters_orders_and_pages_in_listmonks_shape(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    for name, subject, tags in [("春のセール", "桜の季節です", ["sale", "spring"]),
                                ("夏のセール", "暑中見舞い", ["sale"]), ("会報 1月号", "新年のご挨拶", ["newsletter"])]:
        client.post("/api/campaigns", headers=headers, json={"name": name, "subject": subject, "tags": tags,
                                                             "lists": lists, "body": "本文", "content_type": "plain"})
    winter = client.get("/api/campaigns?query=新年", headers=headers).get_json()["data"]
    assert names_of(winter) == ["会報 1月号"] and winter["query"] == "新年" and winter["total"] == 1
    assert names(client.get("/api/campaigns?tags=sale&tags=spring", headers=headers)) == ["春のセール"]
    newest_first = ["夏のセール", "春のセール"]
    assert names(client.get("/api/campaigns?tags=sale", headers=headers)) == newest_first
    assert names(client.get("/api/campaigns?order_by=name&order=asc", headers=headers)) == [
        "会報 1月号", "夏のセール", "春のセール"]
    second = client.get("/api/campaigns?per_page=1&page=2", headers=headers).get_json()["data"]
    assert (names_of(second), second["total"], second["per_page"], second["page"]) == (["夏のセール"], 3, 1, 2)
    everything = client.get("/api/campaigns?per_page=all&no_body=true", headers=headers).get_json()["data"]
    assert everything["per_page"] == 0 and len(everything["results"]) == 3
    campaign = everything["results"][0]
    assert campaign["body"] == "" and campaign["lists"] == [{"id": lists[0], "name": "お知らせ"},
                                                            {"id": lists[1], "name": "セール"}]
    for field in ("id", "uuid", "name", "subject", "from_email", "status", "type", "tags", "send_at", "started_at",
                  "to_send", "sent", "views", "clicks", "bounces", "created_at", "updated_at", "content_type",
                  "template_id", "archive"):
        assert field in campaign, field
    assert (campaign["type"], campaign["views"], campaign["clicks"], campaign["bounces"]) == ("regular", 0, 0, 0)
    first_id = everything["results"][-1]["id"]
    client.put(f"/api/campaigns/{first_id}/status", headers=headers, json={"status": "running"})
    assert names(client.get("/api/campaigns?status=running&status=finished", headers=headers)) == ["春のセール"]
    assert names(client.get("/api/campaigns?status=draft", headers=headers)) == ["会報 1月号", "夏のセール"]
    empty = client.get("/api/campaigns?status=cancelled", headers=headers).get_json()["data"]
    assert empty["results"] == [] and empty["total"] == 0


def names_of(data: dict[str, Any]) -> list[str]:
    return [c["name"] for c in data["results"]]


def test_bad_list_parameters_get_a_400_naming_what_is_allowed(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    answers = {
        "status=sent": "Unknown status sent: use draft, scheduled, running, paused, cancelled, finished.",
        "order_by=subject": "order_by must be one of: name, status, created_at, updated_at.",
        "order=up": "order must be asc or desc.",
        "page=0": "page must be a whole number of 1 or more.",
        "per_page=many": "per_page must be a whole number of 1 or more.",
    }
    for query, message in answers.items():
        response = client.get(f"/api/campaigns?{query}", headers=headers)
        assert (response.status_code, response.get_json()["message"]) == (400, message)
    bad_id = client.get("/api/campaigns/running/stats?campaign_id=one", headers=headers)
    assert (bad_id.status_code, bad_id.get_json()["message"]) == (
        400, "campaign_id must be a whole number from 1 to 2147483647.")


def test_running_stats_report_progress_and_rates(app: Flask, client: FlaskClient, capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "速報", "subject": "お知らせ", "lists": lists, "body": "本文",
        "content_type": "plain"}).get_json()["data"]
    assert client.get("/api/campaigns/running/stats", headers=headers).get_json() == {"data": []}
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    running = client.get("/api/campaigns/running/stats", headers=headers).get_json()["data"]
    assert [(s["id"], s["status"], s["to_send"], s["sent"], s["rate"], s["net_rate"]) for s in running] == [
        (campaign["id"], "running", 2, 0, 0, 0)]
    assert set(running[0]) == {"id", "status", "to_send", "sent", "started_at", "updated_at", "rate", "net_rate"}
    run_jobs(app)
    done = client.get(f"/api/campaigns/running/stats?campaign_id={campaign['id']}", headers=headers).get_json()["data"]
    assert [(s["status"], s["sent"], s["net_rate"]) for s in done] == [("finished", 2, 2)]  # 2 in its first minute
    assert client.get("/api/campaigns/running/stats", headers=headers).get_json() == {"data": []}


def test_the_openapi_document_describes_the_list_and_the_stats(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    components = spec["components"]["parameters"]  # listmonk's paging is written once, referred to by each list
    listing = {(components[p["$ref"].rpartition("/")[2]] if "$ref" in p else p)["name"]
               for p in spec["paths"]["/api/campaigns"]["get"]["parameters"]}
    assert {"query", "status", "tags", "order_by", "order", "page", "per_page", "no_body"} <= listing
    assert "/api/campaigns/running/stats" in spec["paths"]
    assert "scheduled" in str(spec["paths"]["/api/campaigns/{campaign_id}/status"]["put"]["requestBody"])
    assert {"views", "clicks", "bounces", "lists", "send_at"} <= set(spec["components"]["schemas"]["Campaign"][
        "properties"])


def test_the_list_page_shows_a_running_campaigns_progress_and_its_buttons(app: Flask, client: FlaskClient,
                                                                         users: dict[str, str]) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "配信中の号", "subject": "お知らせ", "lists": lists, "body": "本文",
        "content_type": "plain"}).get_json()["data"]
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    login(client, "editor")
    page = client.get("/campaigns/?status=running").get_data(as_text=True)
    assert f'data-running-id="{campaign["id"]}"' in page and '<span data-sent>0</span> / 2' in page
    assert 'name="status" value="paused"' in page and 'name="status" value="cancelled"' in page
    assert 'value="scheduled"' in page  # the status filter's option; no schedule form for a running campaign
    assert "campaign_schedule" not in page and f"/campaigns/{campaign['id']}/schedule" not in page


def test_a_sent_campaigns_edit_link_shows_how_it_went_instead_of_a_form_that_cannot_save(
        app: Flask, client: FlaskClient, users: dict[str, str], capture: Outbox) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "送信済み", "subject": "お知らせ", "content_type": "plain", "lists": lists, "body": "本文",
    }).get_json()["data"]
    login(client, "editor")
    assert client.get(f"/campaigns/{campaign['id']}").status_code == 200  # a draft: the editor
    client.put(f"/api/campaigns/{campaign['id']}/status", headers=headers, json={"status": "running"})
    run_jobs(app)
    answer = client.get(f"/campaigns/{campaign['id']}")
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/campaigns/{campaign['id']}/preview")


def test_a_campaign_without_lists_says_why_it_cannot_be_sent_instead_of_asking_to_send_it(
        app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    lists = audience(client, headers)
    made = {name: client.post("/api/campaigns", headers=headers, json={
        "name": name, "subject": "お知らせ", "lists": chosen, "body": "本文", "content_type": "plain"}
    ).get_json()["data"]["id"] for name, chosen in (("リストなし", []), ("リストあり", lists))}
    login(client, "editor")
    client.post("/language", data={"csrf_token": csrf_token(client, "/"), "language": "ja"})
    for page in ("/campaigns/", f"/campaigns/{made['リストなし']}/preview"):
        html = client.get(page).get_data(as_text=True)
        after_name = html.partition("リストなし")[2]
        lifecycle = re.search(r'<div class="actions-row lifecycle">(.*?)</div>', after_name, re.DOTALL)
        assert lifecycle, page
        assert "購読者 0 人" not in lifecycle[1] and 'value="running"' not in lifecycle[1]  # no send-now question
        assert "配信先のリストが選ばれていないため、配信できません。" in lifecycle[1]
        assert f'href="/campaigns/{made["リストなし"]}#lists"' in lifecycle[1]
    listed = client.get("/campaigns/").get_data(as_text=True)  # a campaign with lists still offers it, asking first
    asked = rf'/campaigns/{made["リストあり"]}/status"\s+data-confirm="このキャンペーンを購読者 2 人に'
    assert re.search(asked, listed)
    # The server refuses it all the same.
    refused = submit(client, "/campaigns/", f"/campaigns/{made['リストなし']}/status", status="running")
    assert "配信先のリストを1つ以上選んでください。" in client.get(refused.headers["Location"]).get_data(as_text=True)
