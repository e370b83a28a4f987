"""Japanese and English UI: the language comes from the user's choice, else Accept-Language."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta

from babel.lists import format_list
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, format_datetime, format_timedelta, get_locale
from flask_babel import gettext as _
from flask_login import current_user

LANGUAGES = {"en": "English", "ja": "日本語"}
DEFAULT_LANGUAGE = "en"
TRANSLATIONS_DIR = os.path.join(os.path.dirname(__file__), "translations")

babel = Babel()


def select_locale() -> str:
    """Pick the UI language: the signed-in user's choice, the visitor's choice, then the browser's."""
    if not has_request_context():  # a job or a command: the default, unless it forces a locale
        return DEFAULT_LANGUAGE
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return str(current_user.language)
    if session.get("language") in LANGUAGES:
        return str(session["language"])
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT_LANGUAGE)


def init_app(app: Flask) -> None:
    """Attach Flask-Babel to the app."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS_DIR)
    # Read each time: an admin may change the time zone in the browser (core/stored_settings.py).
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: current_app.config["KAIRAN"].timezone)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_locale=lambda: str(get_locale() or DEFAULT_LANGUAGE))
    app.jinja_env.filters["datetime"] = lambda value: format_datetime(value, "medium")


def names_list(names: Iterable[str]) -> str:
    """Names joined as the UI language lists them: 「会社名、住所」 in Japanese, "company name, address" in English."""
    # "standard-narrow": no "and" before the last name. Babel has it; its type stubs do not list it.
    return format_list(list(names), style="standard-narrow",  # type: ignore[arg-type]
                       locale=str(get_locale() or DEFAULT_LANGUAGE))


def time_left_text(seconds: float | None) -> str:
    """Say how long a running job has left ("time left: about 3 minutes"), or that it is not known yet."""
    if seconds is None:
        return _("time left: not known yet")
    if seconds < 1:
        return _("time left: a moment")
    return _("time left: about %(time)s", time=format_timedelta(timedelta(seconds=seconds), add_direction=False))
