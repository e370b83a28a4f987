"""RQ jobs of the mailer."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from mailer import transport


def send_test_message(to: str, language: str) -> str:
    """Send a short test message, in the sender's language, through the configured relay; return its Message-ID."""
    settings = current_app.config["KAIRAN"]
    sender = parseaddr(settings.mail_from)[1]
    # CRLF line endings: smtplib sends bytes as they are, and SMTP lines end in CRLF.
    message = EmailMessage(policy=email.policy.SMTP)
    with current_app.test_request_context(), force_locale(language):
        message["Subject"] = _("Kairan test message")
        message.set_content(render_template("mailer/test_message.txt", base_url=settings.base_url))
        message.add_alternative(render_template("mailer/test_message.html", base_url=settings.base_url),
                                subtype="html")
    message["From"] = settings.mail_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    transport.send(sender, [to], message.as_bytes())
    return str(message["Message-ID"])
