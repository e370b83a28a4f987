"""Email addresses in a notice: finding them, taking off what gateways wrap them in, and telling
recipients from the daemons, senders and help desks a notice also names."""

from __future__ import annotations

import re

from core.tokens import MARK_SHAPE, RETURN_PATH_PREFIX

VERP = re.compile(f"{re.escape(RETURN_PATH_PREFIX)}({MARK_SHAPE.pattern})@", re.IGNORECASE)
_ADDRESS = re.compile(r"(?:\"[^\"\r\n]{1,64}\"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64})@"
                      r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}"
                      r"[A-Za-z0-9])?)+")
# Daemon addresses, and a list manager's own addresses (RFC 2142/2369 owner-, -request, -ctl, -admin).
NOT_RECIPIENTS = re.compile(r"^(?:mailer-daemon|postmaster|no-?reply|bounces?|double-bounce|root|owner-[^@]*|"
                             r"[^@]*-(?:request|ctl|admin|owner))@", re.I)

def verp_token(text: str) -> str | None:
    """The token of the first ``bounce+TOKEN@`` address in a text (unverified: record() checks its signature)."""
    match = VERP.search(text)
    return match.group(1).lower() if match else None


# What gateways write before or around an address: "SMTP=a@b" (Exchange's proxy addresses, X.400's
# "dda:SMTP=a@b"), "smtp:a@b", "rfc822;a@b", "'a@b'" (Exchange's NDR quotes each recipient). A quote or
# apostrophe is an RFC 5322 local-part character, so the address pattern takes them in: they come off here.
_LOCAL_PART_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.!#$%&'*+/=?^_`{|}~-")
_WRAPPED = re.compile(r"^(?:['`]+|(?:smtp|rfc-?822|dda|mailto)[=:;])+", re.IGNORECASE)


def addresses_in(text: str) -> list[str]:
    """Addresses in a piece of text, in order, once each (case-folded, without a gateway's prefix or quotes)."""
    seen: dict[str, None] = {}
    for match in _ADDRESS.finditer(text):
        if match.start() and text[match.start() - 1] in _LOCAL_PART_CHARACTERS:
            continue  # the tail of a longer local part (Exchange's IMCEAEX-… encapsulations): no mailbox
        seen.setdefault(_WRAPPED.sub("", match.group(0).lower()), None)
    return [address for address in seen if not address.startswith("@")]



# A notice's help text: whom to write to about it (a help desk, support, the postmaster). An address that
# follows such words in the same sentence is where to ask, never a recipient that failed.
_HELP_WORDS = re.compile(r"\b(?:contact|write to|send (?:e-?)?mail to|e-?mail us|mail us|reply to|ask us|"
                         r"help ?desk|support|assistance|questions?|inquir\w+|enquir\w+|administrator)\b|"
                         r"問い?合わ?せ|連絡先|窓口|サポート", re.IGNORECASE)
_HELP_REACH = 160  # how far after the words their address may be (a sentence, folded)
_SENTENCE_END = re.compile(r"[.!?。](?:\s|$)|\n[ \t]*\n|\n[ \t]*<?[\w.+-]+@|\n[ \t]*[245]\d\d\b")


def help_addresses(notice: str) -> set[str]:
    """The addresses a notice gives to write to for help."""
    found: set[str] = set()
    for words in _HELP_WORDS.finditer(notice):
        after = notice[words.end():words.end() + _HELP_REACH]
        end = _SENTENCE_END.search(after)
        found.update(addresses_in(after[:end.start()] if end else after))
    return found
