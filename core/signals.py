"""Signals between packages: a lower package announces, a higher one acts (imports run one way)."""

from __future__ import annotations

from blinker import Namespace

kairan = Namespace()

# Sent by lists when a subscriber must confirm double opt-in lists; mailer sends the mail.
# Arguments: subscriber_id (int), list_ids (list[int]), language (str).
optin_requested = kairan.signal("optin-requested")

# Sent by mailer's send reconciler each KAIRAN_RECONCILE_SECONDS, from a worker; tracking flushes
# its event stream then, in case Redis lost the flush the pixel queued. No arguments.
reconciling = kairan.signal("reconciling")

# Sent by lists when subscribers are about to be deleted (in the deleting transaction, before its
# commit), so packages that keep rows about them can forget who they were. Argument: ids (list[int]).
subscribers_deleting = kairan.signal("subscribers-deleting")

# Sent by lists when someone unsubscribes through a campaign message's link or List-Unsubscribe
# (its token names the delivery); tracking records it on the delivery for the campaign's metrics.
# Arguments: subscriber_id (int), delivery_id (int).
unsubscribed_from_campaign = kairan.signal("unsubscribed-from-campaign")

# Sent by lists before deleting lists (argument: ids, list[int]) or a segment (argument: ids, [its id]); a package
# whose live work uses one refuses by raising a ConflictError that names it (automations: a live automation).
lists_deleting = kairan.signal("lists-deleting")
segment_deleting = kairan.signal("segment-deleting")

# Sent by mailer when an automation run's message cannot be rendered for its reader (a template error on their
# data): automations fails that run with the reason. Arguments: run_id (int), reason (str).
run_message_failed = kairan.signal("run-message-failed")

# Sent by mailer after an A/B test's winner was sent to the rest of the audience (the campaign's deliveries grew after
# it started, committed): tracking counts the campaign's audience again. Argument: campaign_id (int).
audience_grew = kairan.signal("audience-grew")

# Sent by core when an admin changed settings in the browser (in the saving transaction, before its commit); the
# audit log records each value before and after. Argument: changes (dict: setting name -> (before, after)).
settings_changed = kairan.signal("settings-changed")
