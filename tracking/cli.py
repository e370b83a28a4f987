"""``flask tracking``: flush the event stream now, and run changed classification rules over history.

``flask bounces``: run the inbound SMTP server, read the bounce mailbox now.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.cli import needs_database
from tracking.flush import flush_events, reclassify
from tracking.inbound import serve_command
from tracking.mailbox import MailboxError, poll

tracking_cli = AppGroup("tracking", help="Opens and clicks.")
bounces_cli = AppGroup("bounces", help="Bounces and complaints.")
bounces_cli.add_command(serve_command)


@bounces_cli.command("poll")
@needs_database
def poll_command() -> None:
    """Read KAIRAN_BOUNCE_MAILBOX once now (workers do it every KAIRAN_BOUNCE_MAILBOX_SECONDS)."""
    try:
        click.echo(f"Recorded and removed {poll()} message(s).")
    except MailboxError as error:
        raise click.ClickException(str(error)) from None


@tracking_cli.command("flush")
@needs_database
def flush_command() -> None:
    """Store the opens and clicks waiting in Redis now (workers do this within seconds anyway)."""
    click.echo(f"Stored {flush_events()} event(s).")


@tracking_cli.command("reclassify")
@needs_database
def reclassify_command() -> None:
    """Tell people from machines again for every stored event, with the current rules; rebuild the reports' rollups."""
    judged, changed = reclassify()
    click.echo(f"Judged {judged} event(s); {changed} changed class or rule. "
               "Events recorded with individual tracking off kept no evidence and were left as they were. "
               "The reports' figures were computed again from the events.")
