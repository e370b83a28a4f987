"""The dashboard's notice for endpoints Kairan switched off because they kept failing."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db
from core.health import Notice
from webhooks.models import Endpoint


def switched_off() -> list[Notice]:
    """One notice per endpoint switched off after failing, until an admin enables or deletes it."""
    return [Notice(_("The webhook endpoint %(url)s was switched off: it failed for three days. Fix the receiver, "
                     "then enable it and replay what it missed.", url=url),
                   url_for("outgoing_webhooks.endpoint", endpoint_id=endpoint_id))
            for endpoint_id, url in db.session.execute(select(Endpoint.id, Endpoint.url).where(
                ~Endpoint.enabled, Endpoint.disabled_at.is_not(None)).order_by(Endpoint.id))]
