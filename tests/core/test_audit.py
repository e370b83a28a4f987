"""The audit log: what is recorded (by whom, from where, before and after), the hash chain and its verify command,
retention, and /api/audit's filters."""

from __future__ import annotations

import codecs
import csv
import io
import re
import threading
from datetime import UTC, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text

from core import audit, audit_views, clock, two_factor
from core.api import LOGIN_FAILED_WINDOW
from core.audit import AuditEntry
from core.db import db, utcnow
from core.models import User
from core.settings import load_settings
from core.signals import settings_changed
from core.users import create_api_user, rotate_token
from lists.models import MailingList
from tests.helpers import PASSWORD, api_user, audit_entries, basic, login, submit


def verify(app: Flask) -> Any:
    """Run ``flask audit verify`` on the app; return its result."""
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_an_api_write_is_recorded_with_the_token_address_and_values(app: Flask, client: FlaskClient) -> None:
    editor = basic(api_user(app, "editor", "shop"))
    created = client.post("/api/lists", json={"name": "週刊ニュース", "type": "public", "optin": "single"},
                          headers=editor, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    list_id = created.get_json()["data"]["id"]
    client.put(f"/api/lists/{list_id}", json={"name": "月刊ニュース", "type": "public", "optin": "single"},
               headers=editor)
    client.delete(f"/api/lists/{list_id}", headers=editor)
    made, changed, deleted = (audit_entries(app, f"list.{verb}")[0] for verb in ("created", "changed", "deleted"))
    assert (made.actor, made.actor_kind, made.address) == ("shop", "api", "198.51.100.7")
    assert (made.target_type, made.target_id, made.target) == ("list", str(list_id), "週刊ニュース")
    assert made.before is None and made.after is not None and made.after["name"] == "週刊ニュース"
    assert changed.before == {"name": "週刊ニュース"} and changed.after == {"name": "月刊ニュース"}
    assert deleted.before is not None and deleted.before["name"] == "月刊ニュース" and deleted.after is None
    assert verify(app).exit_code == 0


def test_logins_failed_logins_and_logouts_are_recorded(app: Flask, client: FlaskClient,
                                                       users: dict[str, str]) -> None:
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert login(client, "editor", "wrong password").status_code == 401
    login(client, "editor")
    submit(client, "/", "/logout")
    failed, = audit_entries(app, "login.failed")
    succeeded, = audit_entries(app, "login.succeeded")
    logged_out, = audit_entries(app, "user.logged_out")
    assert (logged_out.actor, logged_out.address, logged_out.target) == ("editor", "203.0.113.9", "editor")
    assert (failed.actor, failed.address, failed.target, failed.after) == ("anonymous", "203.0.113.9", "editor",
                                                                           {"step": "password"})
    assert (succeeded.actor, succeeded.actor_kind, succeeded.target) == ("editor", "user", "editor")


def test_users_roles_tokens_and_passwords_are_recorded_with_secrets_masked(app: Flask, client: FlaskClient,
                                                                           users: dict[str, str]) -> None:
    login(client, "admin")
    submit(client, "/users/", "/users/", **{"user-username": "hanako", "user-password": PASSWORD,
                                             "user-role": "viewer", "user-language": "ja"})
    with app.app_context():
        hanako = db.session.scalar(select(AuditEntry.target_id).where(AuditEntry.target == "hanako"))
    submit(client, f"/users/{hanako}", role="editor", enabled="y", password="another long password")
    made, = (entry for entry in audit_entries(app, "user.created") if entry.target == "hanako")
    password, role = audit_entries(app, "user.changed")  # set_password commits on its own, before the role
    assert made.actor == "admin" and made.after is not None
    assert made.after["role"] == "viewer" and made.after["password_hash"] == audit.MASK
    assert password.before == password.after == {"password_hash": audit.MASK}
    assert (role.before, role.after, role.target) == ({"role": "viewer"}, {"role": "editor"}, "hanako")
    with app.app_context():
        rows = db.session.execute(text("SELECT before, after FROM audit_entries")).all()
    assert "scrypt" not in str(rows)  # no hash of a password is kept, in any form


def test_settings_changed_are_recorded_before_and_after(app: Flask) -> None:
    with app.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.1"}):
        settings_changed.send(app, changes={"company_name": ("回覧商事", "回覧株式会社"),
                                            "smtp_password": ("old-secret", "new-secret")})
        db.session.commit()
    entry, = audit_entries(app, "settings.changed")
    assert entry.before == {"company_name": "回覧商事", "smtp_password": audit.MASK}
    assert entry.after == {"company_name": "回覧株式会社", "smtp_password": audit.MASK}
    assert entry.address == "192.0.2.1"


def test_outside_a_request_the_system_is_who(app: Flask) -> None:
    with app.app_context():
        audit.record("list.changed", audit.Target("list", 1, "a"))
        db.session.commit()
    entry, = audit_entries(app)
    assert (entry.actor, entry.actor_kind, entry.address) == ("system", "system", None)


def test_a_row_edited_in_the_database_fails_verify_and_is_named(app: Flask) -> None:
    with app.app_context():
        for number in range(5):
            audit.record("list.changed", audit.Target("list", number, f"list {number}"), {"n": 0}, {"n": number})
            db.session.commit()
    assert "5 entries checked" in verify(app).output
    with app.app_context():
        db.session.execute(text("UPDATE audit_entries SET after = :value WHERE id = 3"), {"value": '{"n": 99}'})
        db.session.commit()
    result = verify(app)
    assert result.exit_code == 1
    assert "broken at entry 3" in result.output and "changed after it was written" in result.output


def test_a_deleted_row_fails_verify(app: Flask) -> None:
    with app.app_context():
        for number in range(4):
            audit.record("list.changed", audit.Target("list", number))
        db.session.commit()
        db.session.execute(text("DELETE FROM audit_entries WHERE id = 2"))
        db.session.commit()
    result = verify(app)
    assert result.exit_code == 1 and "entry 2 is missing" in result.output


def test_retention_prunes_old_entries_and_verify_starts_from_the_first_kept(moving: Flask) -> None:
    redis_url = moving.config["KAIRAN"].redis_url
    with moving.app_context():
        for number in range(3):
            audit.record("list.changed", audit.Target("list", number))
            db.session.commit()
        clock.move(redis_url, timedelta(days=moving.config["KAIRAN"].audit_retention_days + 1))
        audit.record("list.changed", audit.Target("list", 99))
        db.session.commit()
        audit.sweep()
    kept = audit_entries(moving)
    assert [entry.id for entry in kept] == [4]
    result = verify(moving)
    assert result.exit_code == 0 and "1 entries checked" in result.output
    with moving.app_context():  # the first kept entry is checked too
        db.session.execute(text("UPDATE audit_entries SET target = 'x' WHERE id = 4"))
        db.session.commit()
    assert "broken at entry 4" in verify(moving).output


def test_two_writers_at_once_do_not_fork_the_chain(app: Flask) -> None:
    def write(number: int) -> None:
        with app.app_context():
            for step in range(10):
                audit.record("list.changed", audit.Target("list", number * 100 + step))
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=write, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = audit_entries(app)
    assert [entry.id for entry in found] == list(range(1, 41))
    assert all(after.prev_hash == before.hash for before, after in pairwise(found))
    assert verify(app).exit_code == 0


def _seed(app: Flask) -> None:
    with app.app_context():
        for actor, action, target in (("hanako", "campaign.paused", ("campaign", 1)),
                                      ("hanako", "list.created", ("list", 2)),
                                      ("taro", "campaign.created", ("campaign", 3))):
            audit.record(action, audit.Target(*target), actor=audit.Actor(actor, "user"))
        db.session.commit()


def test_api_filters_by_who_action_object_and_dates(app: Flask, client: FlaskClient) -> None:
    admin = basic(api_user(app, "admin", "auditor"))  # recorded too: user.created, by the system
    _seed(app)

    def actions(**query: str) -> list[str]:
        response = client.get("/api/audit", query_string=query, headers=admin)
        assert response.status_code == 200, response.get_json()
        return [row["action"] for row in response.get_json()["data"]["results"]]

    assert actions(actor="hanako") == ["list.created", "campaign.paused"]
    assert actions(action="campaign") == ["campaign.created", "campaign.paused"]
    assert actions(action="campaign.paused") == ["campaign.paused"]
    assert actions(object="list") == ["list.created"]
    assert actions(object="campaign", object_id="3") == ["campaign.created"]
    today = clock.now().date()
    assert len(actions(**{"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))})) == 4
    assert actions(**{"from": str(today + timedelta(days=2))}) == []
    assert actions(**{"to": "2000-01-01T00:00:00Z"}) == []
    page = client.get("/api/audit", query_string={"per_page": "2", "page": "2"}, headers=admin).get_json()["data"]
    assert (page["total"], [row["action"] for row in page["results"]]) == (4, ["campaign.paused", "user.created"])


@pytest.mark.parametrize(("query", "message"), [
    ({"from": "2026-13-01"}, "from must be a date (2026-05-01) or a time with its offset"),
    ({"to": "yesterday"}, "to must be a date (2026-05-01) or a time with its offset"),
    ({"from": "2026-05-02", "to": "2026-05-01"}, '"From day" must not be later than "To day".'),
    ({"action": "campaign.paused; drop"}, "action must be an action such as campaign.paused"),
    ({"object": "Campaign!"}, "object must be a kind of object"),
    ({"actor": "x" * 101}, "actor is at most 100 characters."),
    ({"format": "xml"}, "format must be json or csv."),
    ({"page": "0"}, "page"),
])
def test_bad_filters_get_400_with_a_clear_message(app: Flask, client: FlaskClient, query: dict[str, str],
                                                  message: str) -> None:
    response = client.get("/api/audit", query_string=query, headers=basic(api_user(app, "admin", "auditor")))
    assert response.status_code == 400 and message in response.get_json()["message"]


def test_bad_filters_in_japanese(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/audit", query_string={"from": "あした"}, headers={
        **basic(api_user(app, "admin", "auditor")), "Accept-Language": "ja"})
    assert response.status_code == 400 and "from には日付" in response.get_json()["message"]


def test_only_admins_read_the_log(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    assert client.get("/api/audit", headers=basic(api_user(app, "editor", "shop"))).status_code == 403
    login(client, "editor")
    assert client.get("/audit/").status_code == 403


def test_the_page_filters_and_downloads_csv_and_the_download_is_audited(app: Flask, client: FlaskClient,
                                                                       users: dict[str, str]) -> None:
    _seed(app)
    login(client, "admin")
    page = client.get("/audit/", query_string={"actor": "hanako"}, headers={"Accept-Language": "ja"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "監査ログ" in html
    table = html.split("<tbody>")[1]
    assert "campaign.paused" in table and "campaign.created" not in table
    bad = client.get("/audit/", query_string={"from": "nope"})
    assert bad.status_code == 400 and "from must be a date" in bad.get_data(as_text=True)
    download = client.get("/audit/audit-log.csv", query_string={"action": "campaign"})
    assert download.data.startswith(codecs.BOM_UTF8)  # as the other exports: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert rows[0][:5] == ["When", "Who", "From address", "Action", "Action code"]
    assert [row[4] for row in rows[1:]] == ["campaign.created", "campaign.paused"]
    exported, = audit_entries(app, "audit.exported")
    # The encoding is recorded even when the default was implied.
    assert exported.actor == "admin" and exported.after == {"action": "campaign", "encoding": "utf-8"}


def test_two_factor_changes_and_token_rotation_are_recorded(app: Flask, users: dict[str, str]) -> None:
    with app.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.5"}), app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        secret = two_factor.pending_secret(admin)
        assert two_factor.confirm(admin, pyotp.TOTP(secret).at(utcnow())) is not None
        two_factor.turn_off(admin)
        api, _token = create_api_user("shop", "editor")
        rotate_token(api)
    enabled, = audit_entries(app, "two_factor.enabled")
    disabled, = audit_entries(app, "two_factor.disabled")
    rotated, = audit_entries(app, "token.rotated")
    assert (enabled.target, disabled.target, rotated.target) == ("admin", "admin", "shop")
    assert enabled.address == "192.0.2.5"
    shop, = (entry for entry in audit_entries(app, "user.created") if entry.target == "shop")
    assert shop.after is not None and shop.after["type"] == "api"


def test_the_page_is_paged_keeping_its_filters(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    with app.app_context():
        for number in range(60):
            audit.record("campaign.changed", audit.Target("campaign", number), actor=audit.Actor("hanako", "user"))
        db.session.commit()
    login(client, "admin")
    first = client.get("/audit/", query_string={"actor": "hanako"}).get_data(as_text=True)
    assert "Page 1 of 2" in first and "/audit/?page=2&amp;actor=hanako" in first
    second = client.get("/audit/", query_string={"actor": "hanako", "page": "2"}).get_data(as_text=True)
    assert "Page 2 of 2" in second and second.count('data-action="campaign.changed"') == 10


def test_rows_of_one_flush_are_chained_in_order(app: Flask) -> None:
    with app.app_context():
        db.session.add_all([MailingList(name="お知らせ"), MailingList(name="セール"), MailingList(name="会員")])
        db.session.commit()
    made = audit_entries(app, "list.created")
    assert sorted(str(entry.target) for entry in made) == ["お知らせ", "セール", "会員"]
    assert [entry.id for entry in made] == [1, 2, 3] and verify(app).exit_code == 0


def test_the_retention_setting_is_read_and_shown(settings_env: dict[str, str], client: FlaskClient,
                                                users: dict[str, str]) -> None:
    assert load_settings({**settings_env, "KAIRAN_AUDIT_RETENTION_DAYS": "90"}).audit_retention_days == 90
    login(client, "admin")
    assert "KAIRAN_AUDIT_RETENTION_DAYS</th><td><code>730" in client.get("/settings").get_data(as_text=True)


def test_the_csv_downloads_in_shift_jis_too(app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    with app.app_context():
        audit.record("list.created", audit.Target("list", 1, "週刊ニュース"), actor=audit.Actor("hanako", "user"))
        db.session.commit()
    login(client, "admin")
    download = client.get("/audit/audit-log.csv", query_string={"actor": "hanako", "encoding": "cp932"})
    assert download.status_code == 200 and download.content_type == "text/csv; charset=Windows-31J"
    assert "audit-log-cp932.csv" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.data.decode("cp932"))))
    assert [row[7] for row in rows[1:]] == ["週刊ニュース"]
    html = client.get("/audit/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "encoding=cp932" in html and "CSV（Shift_JIS）をダウンロード" in html
    bad = client.get("/api/audit", query_string={"format": "csv", "encoding": "latin-1"},
                     headers=basic(api_user(app, "admin", "auditor")))
    assert bad.status_code == 400
    assert bad.get_json()["message"] == "encoding must be one of: utf-8, cp932 (cp932 is Shift_JIS, for older Excel)."


def test_the_object_filter_offers_every_kind_recorded(app: Flask, client: FlaskClient,
                                                     users: dict[str, str]) -> None:
    with app.app_context():
        audit.record("webhook.created", audit.Target("webhook", 7, "https://shop.example/hook"))
        db.session.commit()
    login(client, "admin")
    html = client.get("/audit/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    offered = dict(re.findall(r'<option value="([a-z_]+)" >([^<]+)</option>', html.split('name="object"')[1]
                              .split("</select>")[0]))
    assert offered["webhook"] == "Webhook エンドポイント" and offered["campaign"] == "キャンペーン"
    assert "login" not in offered  # no entry names a login as its object: the filter found nothing
    assert "Webhook エンドポイント #7: https://shop.example/hook" in html
    # Every kind the code records (tracked models, and record's targets) is one the filter offers.
    recorded = set()
    for source in Path(__file__).parents[2].glob("*/**/*.py"):
        if ".venv" not in source.parts and "tests" not in source.parts:
            code = source.read_text()
            recorded |= set(re.findall(r'Target\(\s*"([a-z_]+)"', code))
            recorded |= set(re.findall(r'track\(\s*[\w.]+,\s*"([a-z_]+)"', code))
    assert {"webhook", "campaign", "export", "settings"} <= recorded
    with app.test_request_context():
        assert recorded <= set(audit.kinds())


def test_the_page_tells_values_bodies_and_jobs_in_words(app: Flask, client: FlaskClient,
                                                        users: dict[str, str]) -> None:
    with app.app_context():
        audit.record("campaign.changed", audit.Target("campaign", 3, "秋のセール"),
                     {"from_email": "Shop <shop@example.com>", "body": True, "lists": [1]},
                     {"from_email": "回覧 <news@example.com>", "body": True, "lists": [1, 2]},
                     actor=audit.Actor("hanako", "user", 5))
        audit.record("campaign.finished", audit.Target("campaign", 3, "秋のセール"),
                     actor=audit.Actor("job:mailer.batch_job.send_batch", "job"))
        audit.record("list.changed", audit.Target("list", 1, "お知らせ"))  # by the system
        audit.record("settings.changed", audit.Target("settings"), {"KAIRAN_COMPANY_NAME": "Kairan"},
                     {"KAIRAN_COMPANY_NAME": "回覧商事"})
        db.session.commit()
    login(client, "admin")
    html = client.get("/audit/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "Shop &lt;shop@example.com&gt; → 回覧 &lt;news@example.com&gt;" in html and "\\u003c" not in html
    assert "<strong>本文</strong>: 変更あり" in html and "true → true" not in html
    assert "<strong>リスト</strong>: #1 → #1, #2" in html  # each field by its name in the UI; gone rows by id
    assert "<strong>会社名</strong>: Kairan → 回覧商事" in html
    assert "システム（配信ジョブ）" in html and "job:mailer" not in html.split("<tbody>")[1]
    assert '<option value="system" >システム</option>' in html
    assert '<option value="job:mailer.batch_job.send_batch" >システム（配信ジョブ）</option>' in html


def test_actors_and_values_in_words() -> None:
    assert audit_views.shown(None) == "(none)" and audit_views.shown("") == "(empty)"
    assert audit_views.shown(False) == "no" and audit_views.shown({"a": "<b>"}) == '{"a":"<b>"}'
    assert audit_views.actor_label("job:somewhere.unnamed_job", "job") == "System (unnamed_job)"
    assert audit_views.actor_label("anonymous", "user") == "Not logged in"
    assert audit_views.actor_label("anonymous", "user", 4) == "anonymous"  # a person who took that name


def test_a_value_its_labels_no_longer_know_reads_as_kept(app: Flask) -> None:
    with app.test_request_context():
        assert audit_views.told("user", "role", "admin", {}) == "Admin"
        assert audit_views.told("user", "role", "superuser", {}) == "superuser"  # an old role: no error page
        assert audit_views.told("list", "type", "secret", {}) == "secret"
        # An id field holding no id is shown as kept, and asks the database nothing it would refuse.
        assert audit_views.names_for([AuditEntry(target_type="campaign", before=None,
                                                 after={"template_id": "x", "lists": [2**70, True]})]) == {}
        assert audit_views.told("campaign", "template_id", "x", {}) == "#x"
        # A download's filters, as the filters read on the page.
        assert audit_views.told("audit", "action", "campaign.running", {}) == "Campaign started sending"
        assert audit_views.told("audit", "action", "campaign", {}) == "Campaign"
        assert audit_views.told("audit", "object", "list", {}) == "List"
        assert audit_views.told("audit", "encoding", "utf-8", {}) == "UTF-8"


def test_failed_api_logins_are_recorded_once_per_address_username_and_window(app: Flask, moving: Flask) -> None:
    good = basic(api_user(moving, "editor", "shop"))
    wrong = basic("shop:not-the-token")
    # Two app instances, as two web processes are: the window is shared through Redis.
    web1, web2 = app.test_client(), moving.test_client()
    for number in range(50):
        answer = (web1 if number % 2 else web2).get("/api/lists", headers=wrong,
                                                    environ_base={"REMOTE_ADDR": "198.51.100.20"})
        assert answer.status_code == 403
    first, = audit_entries(moving, "api.login_failed")
    assert (first.actor, first.address, first.target_type, first.target) == ("anonymous", "198.51.100.20", "user",
                                                                             "shop")
    web1.get("/api/lists", headers=wrong, environ_base={"REMOTE_ADDR": "203.0.113.4"})  # another address
    assert len(audit_entries(moving, "api.login_failed")) == 2
    with moving.app_context():
        clock.move(moving.config["KAIRAN"].redis_url, LOGIN_FAILED_WINDOW + timedelta(seconds=1))
    web2.get("/api/lists", headers=wrong, environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert len(audit_entries(moving, "api.login_failed")) == 3
    assert web2.get("/api/lists", headers=good, environ_base={"REMOTE_ADDR": "198.51.100.20"}).status_code == 200
    assert len(audit_entries(moving, "api.login_failed")) == 3
    assert verify(moving).exit_code == 0



def _offered_actions(html: str) -> dict[str, str]:
    choices = html.split('name="action"')[1].split("</select>", maxsplit=1)[0]
    return dict(re.findall(r'<option value="([a-z_.]+)" title="[a-z_.]+" >([^<]+)</option>', choices))


def test_actions_read_in_words_with_their_code_and_the_filter_offers_them(app: Flask, client: FlaskClient,
                                                                         users: dict[str, str]) -> None:
    with app.app_context():
        audit.record("campaign.running", audit.Target("campaign", 3, "秋のセール"), {"status": "scheduled"},
                     {"status": "running"})
        audit.record("login.failed", audit.Target("user", None, "hanako"), after={"step": "password"})
        audit.record("segment.created", audit.Target("segment", 4, "大阪"))  # no package named it: kind + verb
        audit.record("campaign.moved_later", audit.Target("campaign", 3))  # nor this status: still words
        db.session.commit()
    login(client, "admin")
    html = client.get("/audit/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    rows = html.split("<tbody>")[1]
    assert 'キャンペーンの配信開始<br><code class="muted small">campaign.running</code>' in rows
    assert "ログイン失敗" in rows and "セグメントの作成" in rows and "キャンペーン：moved later" in rows
    assert "<strong>ステータス</strong>: 予約済み → 配信中" in rows
    assert "<strong>ステップ</strong>: パスワード" in rows
    offered = _offered_actions(html)
    assert offered["campaign.running"] == "キャンペーンの配信開始" and offered["login.failed"] == "ログイン失敗"
    assert offered["list.deleted"] == "リストの削除"  # a tracked kind's changes, before any was recorded
    assert offered["campaign.moved_later"] == "キャンペーン：moved later"  # what is recorded is offered too
    chosen = client.get("/audit/", query_string={"action": "campaign.running"}).get_data(as_text=True)
    assert chosen.count("data-action=") == 1 and '<option value="campaign.running" title="campaign.running" ' \
        'selected>' in chosen
    # A code typed in the address bar that no choice names stays chosen.
    typed = client.get("/audit/", query_string={"action": "campaign"}).get_data(as_text=True)
    assert '<option value="campaign" selected>campaign</option>' in typed and typed.count("data-action=") == 2


def test_the_readme_names_the_actions_recorded(app: Flask) -> None:
    """The README's action codes are the ones recorded: a campaign that starts is campaign.running."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### The audit log")[1].split("\n### ")[0]
    codes = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", section))
    assert {"campaign.running", "campaign.scheduled", "login.failed", "export.downloaded"} <= codes
    with app.test_request_context():
        known = set(audit.actions())
    assert codes <= known, codes - known


def test_values_read_as_their_pages_name_them_and_ids_as_names(app: Flask, client: FlaskClient,
                                                              users: dict[str, str]) -> None:
    with app.app_context():
        shop, news = MailingList(name="お店だより"), MailingList(name="会員")
        db.session.add_all([shop, news])  # recorded: list.created with its type and opt-in
        db.session.commit()
        for number in range(3):
            audit.record("campaign.changed", audit.Target("campaign", number, "春"), {"lists": [shop.id]},
                         {"lists": [shop.id, news.id, 999]})
        audit.record("export.downloaded", audit.Target("export", None, "subscribers-utf-8.csv"),
                     after={"path": f"/lists/{shop.id}/export.csv", "list_id": shop.id, "encoding": "cp932"})
        # The form's sending window 09:00〜20:00 is kept as quiet hours from 20:00 to 09:00.
        audit.record("campaign.created", audit.Target("campaign", 9, "夏"), None,
                     {"quiet_start": "20:00", "quiet_end": "09:00"})
        db.session.commit()
    login(client, "admin")
    statements: list[str] = []
    with app.app_context():
        def keep(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", keep)
        try:
            html = client.get("/audit/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", keep)
    assert "<strong>種類</strong>: 非公開" in html and "<strong>オプトイン</strong>: シングルオプトイン" in html
    assert "<strong>リスト</strong>: お店だより → お店だより, 会員, #999" in html  # a row gone: its id
    assert len([sql for sql in statements if re.search(r"FROM lists\b", sql)]) == 1  # one query for the page
    assert "<strong>ページ</strong>: /lists/" in html and "<strong>リスト</strong>: お店だより</div>" in html
    assert "<strong>文字コード</strong>: Shift_JIS" in html
    assert "<strong>配信時間帯の開始</strong>: 09:00</div>\n      \n        <div><strong>配信時間帯の終了</strong>: " \
        "20:00" in html  # in the form's order, whatever the entry's


def test_the_date_order_error_names_the_filters_as_the_page_labels_them(app: Flask, client: FlaskClient,
                                                                       users: dict[str, str]) -> None:
    _seed(app)
    login(client, "admin")
    page = client.get("/audit/", query_string={"from": "2026-05-02", "to": "2026-05-01", "actor": "hanako"},
                      headers={"Accept-Language": "ja"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and "「開始日」は「終了日」より後にできません。" in html
    assert "from は" not in html
    # What was typed stays to be corrected, and no entries show: an unfiltered list would look filtered.
    assert 'name="from" value="2026-05-02" aria-invalid="true"' in html and 'name="to" value="2026-05-01"' in html
    assert '<option value="hanako" selected>' in html
    assert "<tbody>" not in html and "data-entry=" not in html and "audit-log.csv" not in html


def test_the_page_download_reads_as_the_page_and_the_api_csv_stays_for_machines(
        app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    with app.app_context():
        audit.record("campaign.running", audit.Target("campaign", 3, "秋のセール"), {"status": "scheduled"},
                     {"status": "running"}, actor=audit.Actor("hanako", "user"))
        db.session.commit()
    entry, = audit_entries(app, "campaign.running")
    local = entry.at.replace(tzinfo=UTC).astimezone(ZoneInfo(app.config["KAIRAN"].timezone))
    login(client, "admin")
    page = client.get("/audit/audit-log.csv", query_string={"actor": "hanako"}, headers={"Accept-Language": "ja"})
    header, row = list(csv.reader(io.StringIO(page.data.decode("utf-8-sig"))))
    assert header[:5] == ["日時", "誰が", "接続元アドレス", "操作", "操作コード"]
    assert row[0] == local.strftime("%Y-%m-%d %H:%M:%S") and row[3:5] == ["キャンペーンの配信開始", "campaign.running"]
    assert row[5:9] == ["キャンペーン", "3", "秋のセール", "ステータス: 予約済み → 配信中"]
    api = client.get("/api/audit", query_string={"actor": "hanako", "format": "csv"},
                     headers={**basic(api_user(app, "admin", "auditor")), "Accept-Language": "ja"})
    header, row = list(csv.reader(io.StringIO(api.data.decode("utf-8-sig"))))
    assert tuple(header) == audit.CSV_COLUMNS and row[1].endswith("+00:00") and row[5] == "campaign.running"
    assert row[9] == '{"status":"scheduled"}'


@pytest.mark.unmigrated
def test_commands_say_there_is_no_database_rather_than_a_traceback(app: Flask, database_url: str) -> None:
    for args in (["audit", "verify"], ["users", "two-factor-off", "admin"],
                 ["tokens", "create", "shop", "--role", "editor"], ["tracking", "reclassify"]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 1 and "There is no migrated Kairan database at " in result.output, result.output
        assert "Traceback" not in result.output and "audit_head" not in result.output
    if database_url.startswith("sqlite:///"):
        assert not Path(database_url.removeprefix("sqlite:///")).exists()  # asking made no empty file
