"""Email addresses as Japanese subscribers have them: validated, normalised, carrier legacy forms kept."""

from __future__ import annotations

import re
import unicodedata
from email.utils import parseaddr
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from core.oneline import CONTROLS, one_line
from lists.address_reasons import translated_reason
from lists.errors import InvalidAddressError

# Japanese mobile carriers long accepted local parts that RFC 5321 forbids unquoted
# (consecutive dots, a dot first or before the @). Those addresses still receive mail,
# so Kairan keeps them and sends them in quoted form ("taro..x."@docomo.ne.jp).
CARRIER_DOMAINS = frozenset({
    "docomo.ne.jp", "ezweb.ne.jp", "au.com", "biz.ezweb.ne.jp", "softbank.ne.jp", "i.softbank.jp",
    "disney.ne.jp", "vodafone.ne.jp", "d.vodafone.ne.jp", "h.vodafone.ne.jp", "t.vodafone.ne.jp",
    "c.vodafone.ne.jp", "k.vodafone.ne.jp", "r.vodafone.ne.jp", "n.vodafone.ne.jp", "s.vodafone.ne.jp",
    "q.vodafone.ne.jp", "pdx.ne.jp", "willcom.com", "emnet.ne.jp", "ymobile.ne.jp", "y-mobile.ne.jp",
})
# RFC 5322 atext plus dots placed anywhere: what carriers accepted.
_LEGACY_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]{1,64}$")
# The plain ASCII form nearly every address has: dot-atom local part, LDH domain, alphabetic TLD.
# email-validator accepts each of these unchanged except for lower-casing the domain, so they skip
# it (it costs ~19 µs an address, the bulk of a CSV import's time); everything else goes through it.
_PLAIN = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63}))"
)
_SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})  # RFC 6761 and friends
MAX_ADDRESS_LENGTH = 254  # RFC 5321's path limit less the angle brackets


def valid_address(raw: str) -> str | None:
    """Return the address normalised, or None when it is none: for look-ups, which find nothing for it."""
    try:
        return normalise_email(raw)
    except InvalidAddressError:
        return None


def normalise_email(raw: str) -> str:
    """Return the address to store, or raise InvalidAddressError saying why it is refused.

    NFKC turns full-width letters, digits and ＠ into ASCII; surrounding spaces go; the
    domain is lower-cased (IDN kept readable); the local part keeps its case for sending.
    """
    if CONTROLS.search(raw or ""):
        # Checked before anything else: a CR or LF here is a header-injection attempt.
        raise InvalidAddressError(_("An address may not contain line breaks or control characters."))
    address = (raw if raw.isascii() else unicodedata.normalize("NFKC", raw)).strip()
    plain = _PLAIN.fullmatch(address)
    # "--" (xn--, ab--) marks IDNA labels: email-validator decodes punycode to Unicode or refuses it.
    if (plain and len(address) <= MAX_ADDRESS_LENGTH and address.index("@") <= 64
            and plain.group(2).lower() not in _SPECIAL_USE_TLDS and "--" not in plain.group(1)):
        return address[: plain.start(1)] + plain.group(1).lower()
    if not address:
        raise InvalidAddressError(_("The address is empty."))
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidAddressError(_("The address is longer than %(n)d characters.", n=MAX_ADDRESS_LENGTH))
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddressError(_("%(address)s has no @ with text on both sides.", address=address))
    try:
        result = validate_email(address, check_deliverability=False)
        return f"{result.local_part}@{result.domain}"
    except EmailNotValidError as error:
        reason = translated_reason(str(error))
    domain_checked = _valid_domain(domain)
    if domain_checked in CARRIER_DOMAINS and _LEGACY_LOCAL.match(local):
        return f"{local}@{domain_checked}"
    raise InvalidAddressError(_("%(address)s is not a valid address: %(reason)s", address=address, reason=reason))


def parse_mailbox(value: Any, field: str) -> tuple[str, str] | None:
    """Return a sender given as "Name <address>" or an address as (name, normalised address); None when empty.

    A line break is refused, not folded: in a sender it is never a typo (the name goes into From:).
    """
    text = one_line(value, field, fold=False)
    if not text:
        return None
    name, address = parseaddr(text)
    # The address must be what the text ends with: parseaddr takes "A: b@x <c@y>" as b@x.
    if "@" not in address or not (text == address or text.endswith(f"<{address}>")):
        raise InvalidAddressError(_("%(field)s is not an address: %(value)s", field=field, value=text))
    return name, normalise_email(address)


def _valid_domain(domain: str) -> str | None:
    """Return the normalised domain when it is valid on its own, else None."""
    try:
        return str(validate_email(f"postmaster@{domain}", check_deliverability=False).domain)
    except EmailNotValidError:
        return None


def address_key(address: str) -> str:
    """Return the form addresses are compared in: case-folded, so Taro@ and taro@ are one subscriber."""
    return address.casefold()


def is_legacy_carrier_address(address: str) -> bool:
    """Tell whether an address needs quoting when sent (a carrier's legacy local part)."""
    local, _at, domain = address.rpartition("@")
    return domain in CARRIER_DOMAINS and (".." in local or local.startswith(".") or local.endswith("."))
