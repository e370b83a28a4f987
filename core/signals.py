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

# Sent by mailer when an A/B test started by Kairan before 2026-12-07 (which inserted its rest with the winner, not
# at the start) had its rest inserted (the campaign's deliveries grew after it started, committed): tracking counts
# the campaign's audience again. Argument: campaign_id (int).
audience_grew = kairan.signal("audience-grew")

# Sent by surveys after a reader's confirmed answer to a survey in mail is stored (committed), first or again (the
# latest wins): webhooks send it on. Arguments: subscriber_id (int), campaign_id (int), delivery_id (int),
# question (str: nps, satisfaction, yes_no), answer (str, as the link wrote it), score (int), comment (str),
# first (bool: False when it replaced an earlier answer from the same message).
survey_answered = kairan.signal("survey-answered")

# Sent by lists when someone downloads the consent records (page or API), before the file streams: the audit log
# records every export and who took it. Arguments: user (str: the username or API user), list_id (int | None),
# start (str | None), end (str | None, days as 2026-04-01), encoding (str).
consent_records_exported = kairan.signal("consent-records-exported")
