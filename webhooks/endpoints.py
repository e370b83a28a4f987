"""Endpoints as the admin keeps them: a URL checked for its shape, the event types it wants, a secret, on or off."""

from __future__ import annotations

import base64
import functools  # its partial: _apply's flag is called partial
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db
from core.inputs import flag
from core.validation import FieldChecks
from webhooks.catalogue import EVENT_TYPES
from webhooks.errors import EndpointNotFoundError, EndpointURLError, EventTypesError
from webhooks.models import Endpoint

MAX_URL = 2000
MAX_DESCRIPTION = 200
SECRET_PREFIX = "whsec_"  # noqa: S105 (not a secret: the Standard Webhooks format: the prefix, then the base64 of the key's bytes


def new_secret() -> str:
    """A new signing secret: 32 random bytes, as Standard Webhooks writes them."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def checked_url(value: Any) -> str:
    """Return an http(s) URL with a host, or refuse it saying why. Private and loopback addresses are allowed:
    a self-hosted Kairan delivers to the shop's own machines on its LAN."""
    url = value.strip() if isinstance(value, str) else ""
    if not url:
        raise EndpointURLError(_("Enter the URL to send the events to."), field="url")
    if len(url) > MAX_URL:
        raise EndpointURLError(_("A URL has at most %(n)d characters.", n=MAX_URL), field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EndpointURLError(_("This is not a valid URL."), field="url") from None
    if parts.scheme not in ("http", "https"):
        raise EndpointURLError(_("The URL must start with http:// or https://."), field="url")
    if not parts.hostname or any(ch.isspace() for ch in url):
        raise EndpointURLError(_("The URL needs a host name, such as https://shop.example.jp/hooks."), field="url")
    if parts.username or parts.password:
        raise EndpointURLError(_("Put no user name or password in the URL: the signature proves who sends."),
                               field="url")
    if parts.fragment:
        raise EndpointURLError(_("A URL with a # part cannot be posted to."), field="url")
    del port  # read only to check it
    return url


def checked_types(value: Any) -> list[str]:
    """Return the event types asked for, in the catalogue's order, or refuse unknown ones or none."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EventTypesError(_("event_types must be a list of event type names."), field="event_types")
    unknown = sorted(set(value) - set(EVENT_TYPES))
    if unknown:
        raise EventTypesError(_("Unknown event type: %(type)s.", type=unknown[0]), field="event_types")
    if not value:
        raise EventTypesError(_("Choose at least one event type."), field="event_types")
    return [name for name in EVENT_TYPES if name in value]


def _description(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        raise EndpointURLError(_("description must be text."), field="description")
    if len(text) > MAX_DESCRIPTION:
        raise EndpointURLError(_("A description has at most %(n)d characters.", n=MAX_DESCRIPTION),
                               field="description")
    return text


# Each field's check, in the form's order: every one runs before a refusal, so a form shows all its problems.
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "url": checked_url,
    "description": _description,
    "event_types": checked_types,
    "enabled": lambda value: flag(value, "enabled", True),
    "batch_high_volume": lambda value: flag(value, "batch_high_volume", False),
}


def _apply(endpoint: Endpoint, data: dict[str, Any], *, partial: bool) -> None:
    checks = FieldChecks()
    values = {name: checks.run(name, functools.partial(check, data.get(name)), None)
              for name, check in _CHECKS.items() if name in data or not partial}
    checks.refuse_any()
    if values.get("enabled") and not endpoint.enabled:
        endpoint.failing_since = endpoint.disabled_at = None  # switched on again: a fresh start
    for name, value in values.items():
        setattr(endpoint, name, value)


def add_endpoint(data: dict[str, Any]) -> Endpoint:
    """Add an endpoint with a new secret."""
    endpoint = Endpoint(secret=new_secret(), enabled=True)
    _apply(endpoint, data, partial=False)
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def update_endpoint(endpoint: Endpoint, data: dict[str, Any], *, partial: bool = True) -> Endpoint:
    """Change the given fields (all of them unless ``partial``)."""
    _apply(endpoint, data, partial=partial)
    db.session.commit()
    return endpoint


def rotate_secret(endpoint: Endpoint) -> Endpoint:
    """Give the endpoint a new secret: messages signed from now on carry it."""
    endpoint.secret = new_secret()
    db.session.commit()
    return endpoint


def delete_endpoint(endpoint: Endpoint) -> None:
    """Delete an endpoint with its waiting messages and its log."""
    db.session.delete(endpoint)
    db.session.commit()


def get_endpoint(endpoint_id: int) -> Endpoint:
    """Return an endpoint or refuse the id."""
    endpoint = db.session.get(Endpoint, endpoint_id)
    if endpoint is None:
        raise EndpointNotFoundError(_("No webhook endpoint has the id %(id)s.", id=endpoint_id))
    return endpoint


def all_endpoints() -> list[Endpoint]:
    """Every endpoint, oldest first."""
    return list(db.session.scalars(select(Endpoint).order_by(Endpoint.id)))


def endpoint_as_dict(endpoint: Endpoint, *, with_secret: bool = False) -> dict[str, Any]:
    """An endpoint as the API shows it; its secret only when asked for (``/secret``) or just made."""
    shown = {"id": endpoint.id, "url": endpoint.url, "description": endpoint.description,
             "event_types": endpoint.event_types, "enabled": endpoint.enabled,
             "batch_high_volume": endpoint.batch_high_volume,
             "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
             "disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None,
             "created_at": endpoint.created_at.isoformat()}
    return {**shown, "secret": endpoint.secret} if with_secret else shown
