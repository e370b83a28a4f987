"""Open pixel, click redirect, bot classification, bounces and complaints, campaign metrics."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register tracking's routes (none yet: the measure issue adds the pixel and redirect)."""
