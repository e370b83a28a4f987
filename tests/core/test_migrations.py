"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from core.db import db
from lists.models import MailingList, Subscriber
from mailer.models import Campaign, Template, TemplateType

pytestmark = pytest.mark.usefixtures("ctx")


def test_migrations_match_the_models(app: Flask) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, db.metadata)
    # Indexes and triggers that only raw SQL can express (trigram search, jsonb GIN) live in migrations alone.
    differences = [d for d in differences if not (isinstance(d, tuple) and d[0] in ("remove_index", "remove_table"))]
    assert differences == []


def test_migration_0021_puts_stored_header_texts_on_one_line(app: Flask) -> None:
    bad = "Evil\r\nBcc: victim@example.com\t\x1b[31m"  # as the public form stored it before issue 14
    clean = "Evil Bcc: victim@example.com [31m"
    db.session.add_all([
        Subscriber(email="a@example.jp", email_key="a@example.jp", name=bad, attribs={}),
        Subscriber(email="b@example.jp", email_key="b@example.jp", name="山田 太郎", attribs={}),
        MailingList(name=bad, description="", tags=[]),
        Campaign(name=bad, subject=bad, from_email=f"{bad} <news@kairan.example>"),
        Template(name="tx", type=TemplateType.TX, subject=bad, body="<p></p>"),
    ])
    db.session.commit()
    db.session.remove()
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    downgrade(revision=script.get_revision("0021").down_revision)  # and up again: 0021 meets the rows
    upgrade()
    assert dict(db.session.execute(select(Subscriber.email, Subscriber.name)).all()) == {
        "a@example.jp": clean, "b@example.jp": "山田 太郎"}  # a good name is left as it was
    assert db.session.scalars(select(MailingList.name)).one() == clean
    campaign = db.session.scalars(select(Campaign)).one()
    assert (campaign.name, campaign.subject, campaign.from_email) == (bad, clean, f"{clean} <news@kairan.example>")
    assert db.session.scalars(select(Template.subject).where(Template.type == TemplateType.TX)).one() == clean
