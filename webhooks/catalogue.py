"""The event types an endpoint can ask for, with their names in the UI."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# type → what the admin reads; the order is the form's.
EVENT_TYPES = {
    "subscriber.created": _l("Subscriber created"),
    "subscriber.updated": _l("Subscriber updated"),
    "subscriber.deleted": _l("Subscriber deleted"),
    "subscription.changed": _l("Subscription changed"),
    "consent.recorded": _l("Consent recorded"),
    "import.finished": _l("Import finished"),
    "campaign.started": _l("Campaign started"),
    "campaign.finished": _l("Campaign finished"),
    "message.sent": _l("Message sent"),
    "message.opened": _l("Message opened"),
    "message.clicked": _l("Link clicked"),
    "message.bounced": _l("Message bounced"),
    "message.complained": _l("Complaint (marked as spam)"),
    "message.unsubscribed": _l("Unsubscribed through a message"),
    "automation.entered": _l("Automation entered"),
    "automation.exited": _l("Automation exited"),
    "automation.goal_reached": _l("Automation goal reached"),
    "survey.answered": _l("Survey answered"),
}
TEST_EVENT = "webhook.test"  # the "send a test event" button's, sent to one endpoint whatever it asks for
# Many at a time: an endpoint may take them in batches (one request, ``data`` a list of events).
HIGH_VOLUME = frozenset({"message.opened", "message.clicked"})
