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

# Sent by mailer after an A/B test's winner was chosen and the rest of its audience released (committed): tracking
# forgets the figures it cached and counts the audience again (a test started by Kairan before 2026-12-07 inserts its
# rest only now). Argument: campaign_id (int).
winner_chosen = kairan.signal("winner-chosen")

# What happened, for outgoing webhooks (webhooks/ connects to each, and writes its outbox rows in the sender's
# transaction, before its commit, unless said otherwise). Set-based paths send one signal per batch, with lists.

# Sent by lists before the commit of a transaction that created or changed subscribers (new or changed Subscriber
# rows, found at flush; the events API's set-based creation). Arguments: created (list[int]), updated (list[int]).
subscribers_changed = kairan.signal("subscribers-changed")

# Sent by lists before the commit of a transaction that wrote consent records (each subscription change writes one,
# so this is also "subscription changed"). Argument: ids (list[int]), the consent records' ids.
consent_recorded = kairan.signal("consent-recorded")

# Sent by lists when an import ended (finished, failed or cancelled), before the commit of its last progress.
# Argument: import_id (int).
import_ended = kairan.signal("import-ended")

# Sent by mailer before the commit that starts a campaign for the first time (its audience fixed), and before the
# commit that marks it finished. Argument: campaign_id (int).
campaign_started = kairan.signal("campaign-started")
campaign_finished = kairan.signal("campaign-finished")

# Sent by mailer's Recorder before the commit that records deliveries as sent (or failed), once per group of rows
# committed together. Argument: delivery_ids (list[int]), those recorded as sent.
deliveries_sent = kairan.signal("deliveries-sent")

# Sent by tracking's flusher for each batch of opens and clicks it stores from the event stream, before the batch's
# commit. Argument: rows (list[dict]): kind ("open"/"click"), campaign_id, delivery_id, link_id, at, human, rule.
tracking_events_stored = kairan.signal("tracking-events-stored")

# Sent by tracking when bounce or complaint reports were stored (flushed, ids given), before their commit.
# Argument: ids (list[int]), the bounces' ids.
bounces_stored = kairan.signal("bounces-stored")

# Sent by automations when runs entered automations (inserted), and when runs ended (the engine's batch), before
# the commit. Arguments: entered: ids (list[int]), the runs' ids; ended: runs (list[dict]): id, automation_id,
# subscriber_id, state ("converted", "completed", "exited", "failed"), reason.
runs_entered = kairan.signal("runs-entered")
runs_ended = kairan.signal("runs-ended")

# Sent by automations when customer events were stored (the API, CSV imports, survey answers), before their commit.
# Argument: ids (list[int]), the events' ids.
events_stored = kairan.signal("events-stored")
# Sent by core when an admin saves settings in the browser or the API (core/stored_settings.py), in the saving
# transaction before its commit; the audit log records it. Argument: changes (dict[str, tuple[str, str]]: each
# changed setting's variable, e.g. KAIRAN_COMPANY_NAME -> its value in force before and after).
settings_changed = kairan.signal("settings-changed")
