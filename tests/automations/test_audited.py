"""What automations records in the audit log: automations created, changed (the draft only as changed), and
deleted, by the API user who did it."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import audit_entries


def test_automations_created_changed_and_deleted_are_recorded(app: Flask, shop: FlaskClient) -> None:
    created = shop.post("/api/automations", json={"name": "購入後フォロー"})
    assert created.status_code == 200, created.get_json()
    automation_id = created.get_json()["data"]["id"]
    renamed = shop.put(f"/api/automations/{automation_id}", json={"name": "購入後のお礼"})
    assert renamed.status_code == 200, renamed.get_json()
    assert shop.delete(f"/api/automations/{automation_id}").status_code == 200
    made, changed, deleted = (audit_entries(app, f"automation.{verb}")[0] for verb in ("created", "changed",
                                                                                         "deleted"))
    assert (made.actor, made.actor_kind, made.target_id) == ("shop", "api", str(automation_id))
    assert (changed.before, changed.after) == ({"name": "購入後フォロー"}, {"name": "購入後のお礼"})
    assert deleted.target == "購入後のお礼" and deleted.after is None
