"""Roles, permissions and the decorator that enforces them on every view and API route."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, request
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., Any])


class Role(StrEnum):
    """What a user or API user may do, from most to least."""

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class Permission(StrEnum):
    """One thing a view or API route needs."""

    DASHBOARD = "dashboard:read"
    OWN_ACCOUNT = "account:own"  # one's own password and two-factor login
    LISTS_READ = "lists:read"
    LISTS_WRITE = "lists:write"
    SUBSCRIBERS_READ = "subscribers:read"
    SUBSCRIBERS_WRITE = "subscribers:write"
    # Customer events (POST/GET /api/events): what a shop or app says a subscriber did.
    EVENTS_READ = "events:read"
    EVENTS_WRITE = "events:write"
    # Automations (/api/automations): journeys started by events, lists, dates or enrolment.
    AUTOMATIONS_READ = "automations:read"
    AUTOMATIONS_WRITE = "automations:write"
    TEMPLATES_READ = "templates:read"
    TEMPLATES_WRITE = "templates:write"
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    CAMPAIGNS_SEND = "campaigns:send"
    TX_SEND = "tx:send"  # listmonk's name: POST /api/tx
    BOUNCES_POST = "webhooks:post_bounce"  # listmonk's name: POST /webhooks/bounce
    STATS_READ = "stats:read"
    OUTBOX_READ = "outbox:read"
    # listmonk's names. Bounces name addresses and keep returned mail as it came: admins only by default.
    BOUNCES_READ = "bounces:get"
    BOUNCES_MANAGE = "bounces:manage"
    SETTINGS_MANAGE = "settings:manage"
    # The consent records' export (特定電子メール法's proof of consent): addresses, IPs and browsers. Admins only.
    CONSENT_EXPORT = "consent:export"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"  # the audit log names people, addresses and settings: admins only


_READ = {
    Permission.DASHBOARD,
    Permission.OWN_ACCOUNT,
    Permission.LISTS_READ,
    Permission.SUBSCRIBERS_READ,
    Permission.EVENTS_READ,
    Permission.AUTOMATIONS_READ,
    Permission.TEMPLATES_READ,
    Permission.CAMPAIGNS_READ,
    Permission.STATS_READ,
    Permission.OUTBOX_READ,
}
_EDIT = {
    Permission.LISTS_WRITE,
    Permission.SUBSCRIBERS_WRITE,
    Permission.EVENTS_WRITE,
    Permission.AUTOMATIONS_WRITE,
    Permission.TEMPLATES_WRITE,
    Permission.CAMPAIGNS_WRITE,
    Permission.CAMPAIGNS_SEND,
    Permission.TX_SEND,
    Permission.BOUNCES_POST,
}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset(_READ),
    Role.EDITOR: frozenset(_READ | _EDIT),
    Role.ADMIN: frozenset(Permission),
}

# Marks a view as deliberately open to anonymous visitors (login, setup, health, public pages).
PUBLIC = "public"


def has_permission(role: Role | str, permission: Permission) -> bool:
    """Tell whether a role grants a permission."""
    return permission in ROLE_PERMISSIONS[Role(role)]


def require(permission: Permission) -> Callable[[F], F]:
    """Let a view run only for a signed-in user (or API user) whose role grants ``permission``.

    Anonymous visitors of UI pages are sent to the login page; the API answers 403 itself
    (see core.api). A signed-in user without the permission gets 403.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if request.blueprint == "api":
                    abort(403)
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if not has_permission(current_user.role, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.kairan_permission = permission  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def csrf_exempt(view: F) -> F:
    """Let a form POST arrive without a CSRF token (say in a comment what protects it instead)."""
    view.kairan_csrf_exempt = True  # type: ignore[attr-defined]
    return view


def public(view: F) -> F:
    """Mark a view as open to everyone, so the route audit test knows it was meant to be."""
    view.kairan_permission = PUBLIC  # type: ignore[attr-defined]
    return view
