"""The shared configuration: a view is loaded once per change while a request or job runs, another host sees a
change at its next check, and outside a checked request nothing is trusted (loaded every time)."""

from __future__ import annotations

from flask import Flask

from app import create_app
from core import shared_config
from core.db import db


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
