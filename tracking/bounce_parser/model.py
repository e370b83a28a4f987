"""What the bounce parser says about a message: its kind, and one failure per recipient."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

MAX_BYTES = 10 * 1024 * 1024  # a bounce bigger than this is not read (it is kept raw by the caller)
DIAGNOSTIC_CHARS = 500  # how much of the error text a Failure keeps


class Kind(StrEnum):
    """What a message to the bounce address is."""

    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    COMPLAINT = "complaint"
    NOTHING = "nothing"  # not recognised, or a report that something was delivered
    MALFORMED = "malformed"  # could not be read (too big, or a parse error): keep the raw message


class Verdict(StrEnum):
    """What one failed recipient means (docs/architecture.md, "Bounce rules")."""

    HARD = "hard"  # the address does not exist: suppress at once
    SOFT = "soft"  # full, policy, spam, temporary: count towards the soft-bounce threshold
    SENDER = "sender"  # refused because of the sender (auth, reputation, blocklisted IP): alert, never suppress


@dataclass(frozen=True)
class Failure:
    """One recipient a bounce reports on."""

    address: str
    verdict: Verdict
    status: str  # RFC 3463 code as reported ("5.1.1"), or the class alone ("5.0.0", "4.0.0")
    diagnostic: str
    temporary: bool = False  # a 4.x.x status: a delay warning, or a final failure for a temporary reason
    delayed: bool = False  # a delay warning: the message is still queued (no bounce yet; a final report follows)


@dataclass(frozen=True)
class Intake:
    """The result of reading one inbound message."""

    kind: Kind
    failures: tuple[Failure, ...] = ()
    complained: tuple[str, ...] = ()  # ARF: the original recipients
    feedback_type: str | None = None  # ARF: abuse, fraud, opt-out, auth-failure …
    token: str | None = None  # VERP token from bounce+TOKEN@…, unverified
    message_id: str | None = None  # Message-ID of the original message, when returned
    rule: str = ""  # which rule recognised it (for logs and the disagreement list)
    reason: str = ""  # why NOTHING or MALFORMED
    extra: dict[str, str] = field(default_factory=dict)
