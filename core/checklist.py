"""The dashboard's setup checklist: what an installation needs before its mail reaches people, each with where to
fix it. Packages add their steps (core does not know relays or domains); steps that only an action can show done
(a relay's test passed, a test mail sent) are recorded when it happens (``mark_done``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db import db
from core.i18n import names_list
from core.models import SetupStep


@dataclass(frozen=True)
class Step:
    """One item of the checklist."""

    key: str
    label: str
    done: bool
    url: str  # where to do it
    hint: str = ""  # what is missing, when it is not done


Source = Callable[[set[str]], list[Step]]  # given the names of the steps recorded done


def register(app: Flask, source: Source) -> None:
    """Add a package's steps, in the order they should be done."""
    app.extensions.setdefault("kairan_checklist", []).append(source)


def steps() -> list[Step]:
    """Every registered step, core's first; one query for what was recorded."""
    recorded = set(db.session.scalars(select(SetupStep.name)))
    return [step for source in current_app.extensions.get("kairan_checklist", []) for step in source(recorded)]


def mark_done(name: str) -> None:
    """Record that a step was done (once: the first time is kept), in a transaction of its own."""
    if db.session.get(SetupStep, name) is not None:
        return
    db.session.add(SetupStep(name=name))
    try:
        db.session.commit()
    except IntegrityError:  # another process recorded it at the same moment
        db.session.rollback()


def legal_details(_recorded: set[str]) -> list[Step]:
    """The sender's details the law asks every campaign to show (特定電子メール法)."""
    settings = current_app.config["KAIRAN"]
    missing = [label for label, value in ((_("company name"), settings.company_name != "Kairan"),
                                          (_("postal address"), settings.postal_address),
                                          (_("contact"), settings.contact)) if not value]
    return [Step("legal", _("Legal details set"), not missing, url_for("core.settings"),
                 _("Missing: %(what)s.", what=names_list(missing)) if missing else "")]


def init_app(app: Flask) -> None:
    """Register core's step."""
    register(app, legal_details)
