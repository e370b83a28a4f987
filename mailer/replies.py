"""What an SMTP answer to one message means for it, per docs/architecture.md's bounce rules.

A 4xx answer is worth retrying; a 5xx fails the delivery. Among 5xx answers, those that say the
address does not exist are hard bounces (the address is suppressed), and those that are about
the sender (authentication, reputation, a blocklisted sending IP) never suppress the recipient:
they are the sender's problem, and the admin is told.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Outcome(StrEnum):
    """How a delivery ends after the relay's answer."""

    RETRY = "retry"  # a temporary failure: try again later
    FAILED = "failed"  # a permanent failure about this message or mailbox (full, policy, content)
    HARD_BOUNCE = "hard_bounce"  # the address does not exist: suppress it
    SENDER_REJECTED = "sender_rejected"  # refused because of the sender: alert, never suppress


# Enhanced status codes (RFC 3463) that mean the mailbox or its domain does not exist or moved.
HARD_CODES = {"5.1.0", "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.4.4"}
# Answers about the sender: Gmail's authentication codes 5.7.25–5.7.28 (and 4.7.x), Microsoft's
# 5.7.515 and 5.7.708, and wording about SPF, DKIM, DMARC, reputation or a blocklisted sending IP.
SENDER_CODES = {"5.7.23", "5.7.25", "5.7.26", "5.7.27", "5.7.28", "5.7.515", "5.7.708", "5.7.750"}
SENDER_WORDS = re.compile(r"\b(spf|dkim|dmarc|authenticat\w*|reputation|blocklist\w*|blacklist\w*|spamhaus|"
                          r"sender (?:address )?rejected|not authorized to send|ip .{0,40}blocked)", re.IGNORECASE)
HARD_WORDS = re.compile(r"\b(user unknown|unknown user|no such user|mailbox (?:not found|unavailable|does not exist)|"
                        r"does not exist|invalid recipient|recipient (?:address )?rejected|address rejected)",
                        re.IGNORECASE)
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def enhanced_code(text: str) -> str | None:
    """Return the first enhanced status code (e.g. "5.1.1") in a reply, if it has one."""
    match = _ENHANCED.search(text)
    return ".".join(match.groups()) if match else None


def classify(code: int, text: str) -> Outcome:
    """Say what a reply to one message (its basic code and text) means for the delivery."""
    enhanced = enhanced_code(text)
    if enhanced in SENDER_CODES or ((enhanced or "").startswith("4.7.") and SENDER_WORDS.search(text)):
        return Outcome.SENDER_REJECTED if code >= 500 else Outcome.RETRY
    if code < 500:
        return Outcome.RETRY
    if enhanced in HARD_CODES:
        return Outcome.HARD_BOUNCE
    if SENDER_WORDS.search(text):
        return Outcome.SENDER_REJECTED
    if enhanced is None and code == 550 and HARD_WORDS.search(text):
        return Outcome.HARD_BOUNCE
    return Outcome.FAILED


# What a bounce (a DSN, or an MTA's plain-text notice) says about one recipient. The wording is
# what real MTAs write (Postfix, Sendmail, Exim, qmail, Exchange, Gmail, Yahoo, Japanese carriers);
# it decides before the status code, because many MTAs put a generic code (5.0.0, 5.5.0, 5.7.1) on a
# precise text, or a precise code (5.1.1) on a full mailbox.
BOUNCE_SOFT_WORDS = re.compile(
    r"mailbox (?:is )?full|mailbox.{0,20}(?:over|exceeded?).{0,10}quota|quota|over ?quota|"
    r"(?:storage|size) (?:limit|allocation)|insufficient (?:disk )?(?:space|storage)|exceeded storage|"
    r"mailbox size limit|(?:disk|mailfolder|mail ?box) (?:is )?full|too much mail|"
    r"(?:account|mailbox|address|user) (?:has been |is |was )?(?:disabled|suspended|inactive|deactivated|"
    r"locked|frozen|not active|closed)|(?:inactive|disabled) (?:recipient|account|mailbox|user)|"
    r"user (?:is )?(?:on )?hold|"
    r"spam|virus|malware|blocked|blacklist|blocklist|denied by policy|policy (?:violation|reasons)|"
    r"content (?:rejected|filter)|message (?:rejected|refused) (?:due|because)|"
    r"too many (?:connections|recipients|messages)|rate limit|try again later|"
    r"message (?:is )?too (?:big|large)|size exceeds|exceeds? (?:the )?(?:maximum )?(?:message )?size|"
    r"relay(?:ing)? (?:access )?(?:denied|not permitted)|not permitted to relay|"
    r"retry (?:time(?:out)?|period) (?:not reached|exceeded)|timed? ?out|time expired|"
    r"could not be delivered within|connection (?:refused|reset|timed out)|"
    r"reverse (?:dns|lookup)|\bptr\b|not (?:rfc|rfc\s?5322) compliant|"
    r"550:? : user unknown|"  # au (KDDI) refuses with no address when the reader's own filter refuses the sender
    r"refused due to recipient preferences|"  # the reader's own block list (Facebook's RCP-P2)
    # a name server that failed to answer is not a domain that does not exist (Postfix's TRY_AGAIN, SERVFAIL)
    r"(?:host|domain) not found, try again|malformed or unexpected name server reply|servfail|"
    r"name server (?:timeout|failure)|"
    # a guess, not a statement: "the group may not exist, or you may not have permission"
    r"may not exist|"
    # a local delivery program that could not write the mailbox (procmail, maildrop): the recipient's
    # system failed, whatever code its exit status was mapped to ("Couldn't create …: No such user")
    r"(?:couldn'?t|can'?t|cannot|unable to) (?:create|open|write|lock) [\"'/]|lock failure",
    re.IGNORECASE)
BOUNCE_HARD_WORDS = re.compile(
    r"user(?:name)? (?:is )?unknown|unknown (?:user|recipient|mailbox|local[- ]part|address|account)|"
    r"no such (?:user|mailbox|recipient|account|address|person|local user|domain)|"
    r"(?:recipient|address|user|mailbox|account|addressee)(?: address)? (?:is )?(?:unknown|not found|"
    r"not known|does(?: not|n'?t) exist|invalid|unavailable|not listed)|"
    r"(?:mailbox|user|account|address|recipient) (?:\S+ )?(?:does not|doesn'?t) exist|"
    r"invalid (?:recipient|mailbox|user|address)|bad (?:recipient|destination mailbox)|"
    r"not (?:a )?(?:valid|known) (?:user|mailbox|recipient)|is not a known user|"
    r"no mailbox (?:here )?by that name|unrouteable address|mailbox not found|user not found|"
    r"no (?:such )?mailbox|unknown or illegal alias|invalid final delivery userid|"
    r"not listed in (?:public )?(?:name & address book|domino directory)|doesn'?t have an? \S+ account|"
    r"no valid recipients|domain is not reachable|recipient address rejected: access denied|"
    # Postfix's prefix with no restriction named after it: the recipient itself was refused
    r"recipient address rejected\.?(?= ?\(in reply|$)|"
    r"recipient name is not recognized|address couldn'?t be found|check if (?:the )?address is correct|"
    r"indicated no smtp service|"
    r"host (?:or domain name |[a-z0-9.-]+\.[a-z]{2,} )?(?:not found|unknown)|unknown host|"
    r"domain (?:not found|does not exist|"
    r"is not exist)|couldn'?t find any host|host (?:is )?unreachable|unrouteable mail domain|"
    r"name or service not known|nxdomain|no mx|does not accept (?:e-?)?mail|null mx|"
    r"\b(?:has )?moved\b|no longer (?:valid|available|with|in use|exists?)",
    re.IGNORECASE)


# A null MX (RFC 7505): the recipient's domain says it takes no mail, whatever code the reporting MTA chose.
# RFC 3463's X.3.2 wording ("System not accepting network messages", RFC 7504's 521) says the same.
NULL_MX_WORDS = re.compile(r"host does not accept mail|domain (?:does not|doesn'?t) accept mail|null mx|"
                           r"system not accepting network messages", re.I)

# Wording that names the recipient's account as missing, whatever the SMTP command it answered.
ACCOUNT_GONE_WORDS = re.compile(r"doesn'?t have an? \S+ account|invalid recipient", re.IGNORECASE)
# A refusal of the envelope sender's address or domain (5.1.7 bad sender syntax, 5.1.8 bad sender domain).
SENDER_ADDRESS_CODES = {"5.1.7", "5.1.8"}
SENDER_ADDRESS_WORDS = re.compile(r"(?:domain of )?sender (?:address|domain) .{0,80}(?:does not exist|not found|"
                                  r"unknown|invalid|rejected)|domain of sender address", re.IGNORECASE)


class Stage(StrEnum):
    """The SMTP command a refusal answered, when a bounce says so."""

    MAIL = "mail"  # MAIL FROM: a refusal of the sender
    RCPT = "rcpt"  # RCPT TO: a refusal of the recipient
    DATA = "data"  # after the message: the address was accepted, the content was refused


def classify_bounce(status: str | None, text: str, stage: Stage | None = None) -> Outcome:  # noqa: PLR0911
    """Say what a bounce reports for one recipient: its status (e.g. "5.1.1", may be None) and text.

    The DSN counterpart of ``classify``, on the same sets: sender-side refusals first (never
    suppress), then wording that makes it soft (full, disabled, spam, policy, timeouts), then
    wording that says the address or its domain does not exist (hard), then the code alone.
    RETRY means a temporary (4.x.x) report; FAILED a soft permanent one.
    """
    text = " ".join(text.split())  # MTAs fold their text anywhere
    status = status or enhanced_code(text)
    temporary = (status or "").startswith("4.")
    if not temporary and NULL_MX_WORDS.search(text) and not SENDER_ADDRESS_WORDS.search(text):
        return Outcome.HARD_BOUNCE
    if status in SENDER_CODES or status in SENDER_ADDRESS_CODES or stage is Stage.MAIL \
            or ((status or "").startswith("5.7.2") and status != "5.7.20") or SENDER_ADDRESS_WORDS.search(text):
        return Outcome.RETRY if temporary else Outcome.SENDER_REJECTED
    if BOUNCE_SOFT_WORDS.search(text):
        return Outcome.RETRY if temporary else Outcome.FAILED
    if SENDER_WORDS.search(text):
        return Outcome.SENDER_REJECTED
    if temporary:
        return Outcome.RETRY
    if stage is Stage.DATA and status not in HARD_CODES and not ACCOUNT_GONE_WORDS.search(text):
        # "user unknown" with a generic code after DATA comes from a filter: the address was accepted
        return Outcome.FAILED
    if BOUNCE_HARD_WORDS.search(text) or status in HARD_CODES:
        return Outcome.HARD_BOUNCE
    return Outcome.FAILED
