"""The home's panels, which packages add (core does not know them): subscribers over time and lists, recent
campaigns with their rates, automations with their conversions. System health has its own page (/system)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from markupsafe import Markup

from core.auth import Permission
from core.web import can

# A panel renders its own HTML (its package's template), or "" when it has nothing to show.
Panel = Callable[[], Markup | str]


def register(app: Flask, permission: Permission, panel: Panel) -> None:
    """Add a panel to the dashboard, shown to users whose role grants ``permission``."""
    app.extensions.setdefault("kairan_dashboard", []).append((permission, panel))


def panels() -> list[Markup]:
    """Render the panels the signed-in user may see, in the order they were registered."""
    return [Markup(html) for permission, panel in current_app.extensions.get("kairan_dashboard", [])  # noqa: S704
            if can(permission) and (html := panel())]
