"""SMTP transport for Kairan's own mail (test messages, opt-in confirmations) and the relay health check."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from core.health import Component
from mailer import relays
from mailer.relays import Relay

HEALTH_TIMEOUT = 3.0  # the dashboard must not hang on a dead relay


def _all_out() -> relays.AllRelaysOutError:
    return relays.AllRelaysOutError(_("Every SMTP relay is taken out after repeated failures; "
                                      "sending resumes when one comes back."))


def current_relay() -> Relay:
    """Pick a healthy relay by weight, or raise AllRelaysOutError when every one is taken out."""
    relay = relays.pick(relays.active_relays())
    if relay is None:
        raise _all_out()
    return relay


def send(mail_from: str, rcpt_to: list[str], message: bytes) -> None:
    """Hand one message to a relay; smtplib's exceptions propagate so RQ retries and reports.

    A relay that cannot be reached is reported and another one tried; once connected, the
    message is never tried elsewhere (a dropped connection may already have delivered it).
    """
    candidates = relays.active_relays()
    while True:
        relay = relays.pick(candidates)
        if relay is None:
            raise _all_out()
        try:
            conn = relay.connect()
        except OSError as error:  # smtplib's errors are OSErrors too
            if not relays.is_relay_failure(error):
                raise
            relays.report_failure(relay)
            candidates = [other for other in candidates if other.key != relay.key]
            if not candidates:
                raise  # every relay failed just now: the caller sees the last reason
            continue
        try:
            with conn:
                conn.sendmail(mail_from, rcpt_to, message)
        except OSError as error:
            if relays.is_relay_failure(error):
                relays.report_failure(relay)
            raise
        relays.report_success(relay)
        return


def check_smtp() -> Component:
    """Connect to a relay, picked as the send picks it, and say NOOP."""
    relay = current_relay()
    with relay.connect(timeout=HEALTH_TIMEOUT) as conn:
        code, _msg = conn.noop()
    embedded = current_app.config["KAIRAN"].embedded_smtp and relay.key == relays.URL_KEY
    return Component(ok=code == 250, detail=relay.describe(),
                     data={"capture": embedded, "relays": len(relays.active_relays())})
