"""Settings edited in the browser: stored in the database, in force on every process without a restart.

An admin's value for an editable setting (core/settings.py, ``Editable``) is stored as the variable's text, and
read by the same reader, with the same messages, as the environment's; a variable set in the environment wins.
Each save counts the shared configuration up (core/shared_config.py): every process reads the stored values again
at its next request or job, so a change holds from the next campaign on, on every host, with nothing to restart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from core import shared_config
from core.db import db, utcnow
from core.errors import FieldsRefusedError
from core.models import StoredSetting
from core.settings import Editable, Settings, SettingsError, editable_settings, load_settings
from core.signals import settings_changed

log = logging.getLogger(__name__)
EXTENSION = "kairan_stored_settings"


class SettingsRefusedError(FieldsRefusedError):
    """Values that cannot be used: each bad one's message by its variable (the first is the error's message)."""


@dataclass(frozen=True)
class Shown:
    """An editable setting as the page and the API show it: its value in force and where that comes from."""

    setting: Editable
    value: str
    source: str  # "environment" (wins, read-only here), "stored" or "default"

    @property
    def field_value(self) -> str:
        """What the page's field holds: empty for a legal detail not set yet (its default is the placeholder), so
        the page agrees with the setup checklist, which asks for it."""
        return "" if self.setting.empty_when_unset and self.source == "default" else self.value

    @property
    def placeholder(self) -> str:
        """The default in force while the field is empty, if any."""
        return self.value if self.field_value != self.value else ""

    @property
    def locked(self) -> bool:
        """Tell whether the environment sets it, so the browser cannot change it."""
        return self.source == "environment"

    def as_dict(self) -> dict[str, Any]:
        """Serialise for the API."""
        return {"name": self.setting.name, "value": self.value, "source": self.source,
                "editable": not self.locked, "label": str(self.setting.label)}


def _stored() -> dict[str, str]:
    return {name: value for name, value in db.session.execute(select(StoredSetting.name, StoredSetting.value))}


def shown() -> list[Shown]:
    """Every editable setting with its value in force and its source."""
    settings: Settings = current_app.config["KAIRAN"]
    stored = _stored()
    return [Shown(e, e.shown(settings), "environment" if e.name in settings.env
                  else "stored" if e.name in stored else "default") for e in editable_settings()]


def apply(app: Flask) -> None:
    """Put the stored values in force in this process (run when the shared configuration's count moved)."""
    try:
        stored = _stored()
    except SQLAlchemyError as error:  # the database is down: go on with what is in force (health pages say why)
        db.session.rollback()
        log.warning("Stored settings not read: %s", error)
        return
    settings: Settings = app.config["KAIRAN"]
    try:
        app.config["KAIRAN"] = load_settings(settings.env, stored)
    except SettingsError as error:  # saved values are checked, but the environment may have changed since
        log.warning("Stored settings not applied: %s", error.message)


def _refuse_unchangeable(values: Mapping[str, Any], settings: Settings, editable: Mapping[str, Editable]) -> None:
    errors: dict[str, str] = {}
    for name, value in values.items():
        if name not in editable:
            errors[name] = _("%(name)s is not a setting that can be changed here.", name=name)
        elif name in settings.env:
            errors[name] = _("%(name)s is set in the environment, which wins: change it there.", name=name)
        elif not isinstance(value, str | int) or isinstance(value, bool):
            errors[name] = _("%(name)s must be text.", name=name)
    if errors:
        raise SettingsRefusedError(errors)


def _store(stored: Mapping[str, str], wanted: Mapping[str, str]) -> None:
    """Write the values and count the shared configuration up."""
    db.session.execute(delete(StoredSetting).where(StoredSetting.name.not_in(list(wanted))))
    for name, value in wanted.items():
        if stored.get(name) != value:
            row = db.session.get(StoredSetting, name) or StoredSetting(name=name)
            row.value, row.changed_at = value, utcnow()
            db.session.add(row)
    shared_config.changed()
    db.session.flush()


def save(values: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Store an admin's values (an empty one puts the default back) and put them in force at once, everywhere.

    Refuse an unknown setting, one the environment sets, and each bad value with its reader's message. Return
    what changed in force (name -> (before, after)), also sent as ``settings_changed`` in the saving transaction.
    """
    settings: Settings = current_app.config["KAIRAN"]
    editable = {e.name: e for e in editable_settings()}
    stored = _stored()
    _refuse_unchangeable(values, settings, editable)
    wanted = {**stored, **{name: str(value).strip() for name, value in values.items()}}
    wanted = {name: value for name, value in wanted.items() if value}
    errors: dict[str, str] = {}
    for name in values:  # each alone, so every bad value gets its own message
        try:
            load_settings(settings.env, {**stored, name: wanted.get(name, "")})
        except SettingsError as error:
            errors[name] = error.message
    if errors:
        raise SettingsRefusedError(errors)
    after = load_settings(settings.env, wanted)
    changes = {e.name: (e.shown(settings), e.shown(after)) for e in editable.values()
               if e.shown(settings) != e.shown(after)}
    if wanted == stored:
        return changes
    _store(stored, wanted)
    if changes:
        settings_changed.send(None, changes=changes)
    db.session.commit()
    shared_config.check()
    return changes


def init_app(app: Flask) -> None:
    """Have every process put saved settings in force when the shared configuration changes."""
    shared_config.on_change(app, apply)
