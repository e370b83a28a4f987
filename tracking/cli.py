"""``flask tracking``: flush the event stream now, and run changed classification rules over history."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from tracking.flush import flush_events, reclassify

tracking_cli = AppGroup("tracking", help="Opens and clicks.")


@tracking_cli.command("flush")
def flush_command() -> None:
    """Store the opens and clicks waiting in Redis now (workers do this within seconds anyway)."""
    click.echo(f"Stored {flush_events()} event(s).")


@tracking_cli.command("reclassify")
def reclassify_command() -> None:
    """Tell people from machines again for every stored event, with the current rules."""
    judged, changed = reclassify()
    click.echo(f"Judged {judged} event(s); {changed} changed class or rule. "
               "Events recorded with individual tracking off kept no evidence and were left as they were.")
