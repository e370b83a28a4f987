"""What lists records in the audit log: segments, imports, exports and who downloaded them, data wipes."""

from __future__ import annotations

import io
import json

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import api_user, audit_entries, basic, login, run_jobs


def test_segments_imports_exports_and_wipes_are_recorded(app: Flask, client: FlaskClient) -> None:
    editor = basic(api_user(app, "editor", "shop"))
    list_id = client.post("/api/lists", headers=editor, json={"name": "会員"}).get_json()["data"]["id"]
    segment = client.post("/api/segments", headers=editor, json={"name": "大阪の会員",
                                                                 "expression": f"list == {list_id}"})
    assert segment.status_code == 200, segment.get_json()
    params = {"mode": "subscribe", "delim": ",", "lists": [list_id]}
    imported = client.post("/api/import/subscribers", headers=editor, content_type="multipart/form-data",
                           data={"params": json.dumps(params),
                                 "file": (io.BytesIO(b"email,name\nhanako@example.jp,Hanako\n"), "kaiin.csv")})
    assert imported.status_code == 200, imported.get_json()
    run_jobs(app)
    subscriber_id = client.get("/api/subscribers", headers=editor).get_json()["data"]["results"][0]["id"]
    assert client.get(f"/api/subscribers/{subscriber_id}/export", headers=editor).status_code == 200
    assert client.delete(f"/api/subscribers/{subscriber_id}", headers=editor).status_code == 200

    made, = audit_entries(app, "segment.created")
    assert (made.actor, made.target) == ("shop", "大阪の会員")
    assert made.after is not None and made.after["name"] == "大阪の会員"
    started, = audit_entries(app, "import.created")
    assert (started.actor, started.target) == ("shop", "kaiin.csv")
    assert "import.queued" in [entry.action for entry in audit_entries(app, "import")]
    finished, = audit_entries(app, "import.finished")  # by the worker's bulk UPDATE, which the row hook misses
    assert (finished.actor_kind, finished.target) == ("job", "kaiin.csv")
    exported, = audit_entries(app, "subscriber.exported")
    assert (exported.actor, exported.target_id) == ("shop", str(subscriber_id))
    wiped, = audit_entries(app, "subscriber.wiped")
    assert wiped.after == {"count": 1, "ids": [subscriber_id]}
    assert "hanako@example.jp" not in str([(entry.before, entry.after, entry.target) for entry in audit_entries(app)])


def test_every_csv_export_records_who_downloaded_it(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    admin = basic(api_user(app, "admin", "boss"))
    client.post("/api/subscribers", headers=admin, json={"email": "taro@example.jp", "name": "太郎"})
    assert client.get("/api/campaigns/999/report.csv", headers=admin).status_code == 400  # no such campaign
    assert audit_entries(app, "export.downloaded") == []  # nothing was exported
    login(client, "editor")
    download = client.get("/subscribers/export.csv", query_string={"encoding": "cp932"})
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("text/csv")
    exported, = audit_entries(app, "export.downloaded")
    assert (exported.actor, exported.actor_kind, exported.target) == ("editor", "user", "subscribers-cp932.csv")
    assert exported.after == {"path": "/subscribers/export.csv", "encoding": "cp932"}
    download.close()  # the stream done, as a browser finishes it
    client.get("/subscribers/export.csv").close()  # UTF-8 without asking: the entry still says which
    implied = audit_entries(app, "export.downloaded")[-1]
    assert implied.after == {"path": "/subscribers/export.csv", "encoding": "utf-8"}
