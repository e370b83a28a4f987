"""What the lists' tests share: lists and subscribers made through the models or the API."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from core.db import db
from lists.models import MailingList


def make_list(app: Flask, name: str = "news") -> int:
    with app.app_context():
        mailing_list = MailingList(name=name, description="", tags=[])
        db.session.add(mailing_list)
        db.session.commit()
        return mailing_list.id


def make_subscriber(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/subscribers", json=body, headers=headers)
