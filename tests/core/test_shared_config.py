"""The shared configuration: a view is loaded once per change while a request or job runs, another host sees a
change at its next check, and outside a checked request nothing is trusted (loaded every time)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import event, select

from app import create_app
from core import shared_config
from core.auth import Role
from core.db import db
from core.models import SettingsVersion, User, UserType
from core.users import rotate_token, update_user
from tests.helpers import api_user, basic


def test_a_view_is_held_until_the_next_check_after_a_change_on_another_host(app: Flask,
                                                                           settings_env: dict[str, str]) -> None:
    other = create_app({**settings_env, "TESTING": True})  # another host: the same database, its own memory
    loads: list[int] = []

    def load() -> int:
        loads.append(len(loads) + 1)
        return loads[-1]

    with other.app_context():
        shared_config.check()
        assert [shared_config.view("count", load) for _ in range(3)] == [1, 1, 1]
        with app.app_context():
            shared_config.changed()
            db.session.commit()
        assert shared_config.view("count", load) == 1  # this job started before the change: it keeps its view
        shared_config.check()  # the next request or job
        assert [shared_config.view("count", load) for _ in range(2)] == [2, 2]
    with other.app_context():  # no check (a shell, a script): every use loads
        assert [shared_config.view("count", load) for _ in range(2)] == [3, 4]
        db.engine.dispose()


def test_a_change_made_in_this_request_is_seen_at_once(app: Flask) -> None:
    with app.app_context():
        shared_config.check()
        assert shared_config.view("answer", lambda: "before") == "before"
        shared_config.changed()
        assert shared_config.view("answer", lambda: "during") == "during"  # not held: the change is not committed
        db.session.commit()
        assert shared_config.view("answer", lambda: "after") == "after"
        shared_config.check()
        assert shared_config.view("answer", lambda: "again") == "again"
        assert shared_config.view("answer", lambda: "held") == "again"


def test_an_api_user_is_held_per_host_until_any_host_changes_a_user(app: Flask, settings_env: dict[str, str]) -> None:
    other = create_app({**settings_env, "TESTING": True})  # another host: the same database, its own memory
    asked: list[str] = []
    with other.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: asked.append(statement) if "FROM users" in statement else None)
    pair = api_user(app, "editor", "shop")
    there = other.test_client()
    for _call in range(3):
        assert there.get("/api/lists", headers=basic(pair)).status_code == 200
    assert len(asked) == 1  # read once, then held
    assert there.get("/api/lists", headers=basic("shop:a-wrong-token")).status_code == 403  # checked each time
    with app.app_context():
        new_token = rotate_token(db.session.scalars(select(User).where(User.username == "shop")).one())
    assert there.get("/api/lists", headers=basic(pair)).status_code == 403  # the old token stops at once
    assert there.get("/api/lists", headers=basic(f"shop:{new_token}")).status_code == 200
    with app.app_context():
        user = db.session.scalars(select(User).where(User.username == "shop")).one()
        update_user(user, role="viewer", enabled=False)
    assert there.get("/api/lists", headers=basic(f"shop:{new_token}")).status_code == 403
    with other.app_context():
        db.engine.dispose()


def test_a_user_counts_a_change_when_added_deleted_or_changed_in_who_they_are_not_in_other_fields(app: Flask) -> None:
    """shared_config.count_changes_of(User, ...): the users' hook as it was before it was shared (a pin, not a fix)."""
    with app.app_context():
        def count() -> int:
            return db.session.scalar(select(SettingsVersion.version).where(SettingsVersion.id == 1)) or 0

        start = count()
        user = User(username="shop", type=UserType.API, role=Role.VIEWER)
        db.session.add(user)
        db.session.commit()
        assert count() == start + 1
        user.last_login_at = datetime.now(UTC)  # no view holds it
        db.session.commit()
        assert count() == start + 1
        user.role = Role.EDITOR
        db.session.commit()
        assert count() == start + 2
        db.session.delete(user)
        db.session.commit()
        assert count() == start + 3
