"""Plain-text notices: the words of MTAs, gateways and scanners that report a failure without an
RFC 3464 report (qmail, Exim, Postfix, Sendmail, Exchange, Notes, GroupWise, carriers …), and their recipients."""

from __future__ import annotations

import re
from email.message import Message

from tracking.bounce_parser.addresses import NOT_RECIPIENTS, VERP, addresses_in, help_addresses
from tracking.bounce_parser.message import clean, cut_original
from tracking.bounce_parser.model import Failure
from tracking.bounce_parser.verdict import failure_of

# Named rules: what in a message says an MTA wrote it to report a failure. Order does not matter.
_PLAIN_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
    ("qmail", r"this is the qmail-send program|i'm afraid i wasn'?t able to deliver your message"),
    ("exim", r"this message was created automatically by mail delivery software|"
             r"could not be delivered to (?:one or more|all) of its\s+recipients|following address\(es\) failed|"
             r"recipient addresses that were\s+incorrectly constructed"),  # Exim's "malformed recipient address"
    ("postfix", r"this is the mail system at host|i'm sorry to have to inform you that your message"),
    ("sendmail", r"-{3,} ?the following addresses? had (?:permanent |delivery )?(?:fatal )?errors|"
                 r"-{3,} transcript of session follows"),
    ("gmail", r"delivery to the following recipients? failed|technical details of (?:permanent|temporary) failure|"
              r"the error that the other server returned was|address not found"),
    ("yahoo", r"sorry, we were unable to deliver your message to the following address|"
              r"message not delivered|remote host said:"),
    ("microsoft", r"delivery has failed to these recipients or groups|your message (?:couldn'?t|wasn'?t) be delivered|"
                  r"did not reach the following recipient|could not be delivered to the recipient|"
                  r"diagnostic information for administrators"),
    ("apache-james", r"error message below:\s*\n\s*[45]\d\d\b"),  # James' bounce mailet (Verizon's vtext gateway)
    ("fml", r"you are not a member of this mailing list|duplicated message-id in <"),  # fml's list refusals
    ("postfix-smtpd", r"transcript of session follows\.?\s*\n\s*out: 220"),  # Postfix's notice of an SMTP error
    ("google-groups", r"google groups? (?:tried|couldn'?t)|groups\.google\.com/support|"
                      r"you do not have permission to post"),
    ("generic-en", r"undeliverable|undelivered mail|delivery (?:status notification|failure|failed|has failed)|"
                   r"returned mail|mail delivery (?:failed|subsystem|system)|failure notice|could not be delivered|"
                   r"permanent (?:error|failure)|unable to deliver|message (?:was )?not delivered|"
                   r"non[- ]?delivery|nondeliverable|delivery problem|not (?:be |been )?delivered|"
                   r"(?:was|were|has been) blocked by|"  # a spam or virus firewall's notice
                   r"trouble delivering|error (?:sending|delivering) your (?:mail|message)"),
    ("japanese-carrier", r"宛先.{0,20}(?:見つかりません|存在しません|届きません)|配信(?:できません|出来ません|に失敗)|"
                         r"送信(?:できません|出来ません|に失敗)|届きませんでした|エラー|不明なアドレス"),
))
WEAK_RULES = {"generic-en", "japanese-carrier"}  # wording an auto-reply may also use
BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery|mailer|daemon|bounce|mail ?administrator|"
                            r"nobody@|root@|system administrator", re.IGNORECASE)


def plain_bounce_rule(message: Message, text: str) -> str | None:
    """Name the rule that recognises a plain-text delivery-failure notice, or None."""
    notice = cut_original(text)
    subject = clean(message.get("Subject", ""))
    sender = clean(message.get("From", ""))
    haystack = f"{subject}\n{notice}"
    for name, pattern in _PLAIN_RULES:
        if name == "generic-en" and not (BOUNCE_SENDER.search(sender) or message.get("Return-Path", "") == "<>"
                                         or message.get("X-Failed-Recipients") or quotes_refusal(notice)):
            continue
        if pattern.search(haystack):
            return name
    if message.get("X-Failed-Recipients"):
        return "x-failed-recipients"
    return None


def quotes_refusal(text: str) -> bool:
    """Whether a notice quotes the refusal it reports: an SMTP failure reply with an RFC 3463 status."""
    return bool(re.search(r"\b[45]\d\d[ -]#?[45]\.\d{1,3}\.\d{1,3}\b", cut_original(text)))


# Where a notice names the recipient it failed for: a line that starts with the address (qmail's "<a@b>:",
# Sendmail's "a@b... reason", X1's "a@b [reason]"), or a sentence "… delivering your mail to <a@b>".
_NAMED_RECIPIENT = re.compile(
    r"^[ \t]*<?([^\s<>@]+@[^\s<>]+?)>?(?::|\.\.\.|[ \t]+\[|[ \t]*$)"
    r"|(?:deliver\w*|send\w*|sent)[ \t]+(?:(?:your|the)[ \t]+)?(?:mail|message)?[ \t]*to[ \t]+<([^\s<>@]+@[^\s<>]+)>",
    re.IGNORECASE | re.MULTILINE)


_MESSAGE_ID_LINE = re.compile(r"^[> \t]*message-id:[ \t]*\S+", re.IGNORECASE | re.MULTILINE)
_SENT_LINE = re.compile(r"^[ \t]*sent:[ \t]", re.IGNORECASE | re.MULTILINE)  # Exchange's summary of the original
_SUMMARY_LINE = re.compile(r"^[ \t]*(?:to|cc):[ \t]*.*$", re.IGNORECASE | re.MULTILINE)
_ENVELOPE_SENDER = re.compile(r"(?:mail from|envelope-from|from)[:\s]*<[^>]*>|^[ \t]*(?:mail )?from:[ \t]*\S+@\S+",
                              re.IGNORECASE | re.MULTILINE)


def plain_failures(message: Message, original: Message | None, text: str, *,
                   returned_to: bool = True) -> tuple[Failure, ...]:
    """Failed recipients named by a plain-text notice, each with the text about it (``returned_to``: when the
    notice names none, the one recipient its returned message was sent to)."""
    notice = cut_original(text)
    senders = set(addresses_in(" ".join(clean(message.get(h, "")) for h in ("From", "To", "Reply-To", "Return-Path",
                                                                            "Delivered-To", "X-Original-To"))))
    if original is not None:
        senders |= set(addresses_in(" ".join(clean(original.get(h, "")) for h in ("From", "Return-Path", "Sender"))))
        senders |= set(addresses_in(clean(original.get("Message-ID", ""))))
    senders |= set(addresses_in(" ".join(_ENVELOPE_SENDER.findall(notice))))
    senders |= set(addresses_in(" ".join(_MESSAGE_ID_LINE.findall(notice))))  # a quoted Message-Id is not an address
    senders |= help_addresses(notice)
    header = message.get_all("X-Failed-Recipients") or []
    candidates = addresses_in(" ".join(clean(h) for h in header))
    if not candidates:
        candidates = [a for a in addresses_in(notice) if a not in senders and not NOT_RECIPIENTS.match(a)
                      and not VERP.match(a)]
    summary = set(addresses_in(" ".join(_SUMMARY_LINE.findall(notice))))
    # Exchange's "To:" summary of the original names every recipient, not only the failed ones
    if candidates and set(candidates) - summary and _SENT_LINE.search(notice):
        candidates = [a for a in candidates if a not in summary]
    if not candidates:  # the notice's own recipient slot, even when the address is also in a header (sent to self)
        candidates = addresses_in(" ".join(m.group(1) or m.group(2) for m in _NAMED_RECIPIENT.finditer(notice)))
    if not candidates and returned_to and original is not None:
        candidates = addresses_in(clean(original.get("To", "")))
    if not candidates and returned_to:
        copied = addresses_in(" ".join(re.findall(r"(?im)^to:\s*(.*)$", text[len(notice):])))
        candidates = copied[:1]
    failures = []
    for address in candidates:
        context = (around(notice, address, candidates) if len(candidates) > 1 else "") or notice
        failures.append(failure_of(address, None, context))
    return tuple(failures)


def around(notice: str, address: str, others: list[str]) -> str:
    """The notice's text about one address: from the line naming it to the line naming another recipient."""
    lowered = notice.lower()
    start = lowered.find(address)
    if start < 0:
        return ""
    start = lowered.rfind("\n", 0, start) + 1
    after = start + len(address)
    ends = [lowered.find(other, after) for other in others if other != address and other not in address]
    end = min([e for e in ends if e >= 0], default=len(notice))
    return notice[start:lowered.rfind("\n", start, end) + 1 if lowered.rfind("\n", start, end) > start else end]


def preamble(notice: str, recipients: list[str]) -> str:
    """What a notice says before it names its first recipient: where an MTA states the reason in its own words
    (au's "The user(s) account is disabled." above the "550 user unknown" its mail server answered)."""
    lowered = notice.lower()
    first = min([i for i in (lowered.find(a) for a in recipients if a) if i >= 0], default=len(notice))
    return notice[:first]
