"""The suppression list: addresses and whole domains that are never mailed, whatever their subscriptions."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import Select, select

from core.db import db
from core.errors import NotAChoiceError, NotFoundError
from lists.addresses import address_key, normalise_email
from lists.errors import InvalidAddressError, SuppressedAlreadyError
from lists.models import Suppression, SuppressionReason


def _domain(value: str) -> str:
    """Validate a bare domain (IDN allowed) and return it normalised."""
    try:
        return str(validate_email(f"postmaster@{value}", check_deliverability=False).domain)
    except EmailNotValidError:
        raise InvalidAddressError(_("%(value)s is neither an email address nor a domain.", value=value),
                                  field="value") from None


def add_suppression(value: str, reason: str, source: str) -> Suppression:
    """Suppress an address (a@example.jp) or a whole domain (example.jp, or @example.jp)."""
    raw = unicodedata.normalize("NFKC", value or "").strip()  # ＠ and full-width letters first
    if raw.startswith("@"):
        raw = raw[1:]
    is_domain = "@" not in raw
    key = _domain(raw).casefold() if is_domain else address_key(normalise_email(raw))
    try:
        why = SuppressionReason(reason or SuppressionReason.MANUAL)
    except ValueError:
        raise NotAChoiceError(_("reason must be one of: unsubscribed, hard_bounce, complaint, manual."),
                              field="reason") from None
    if db.session.scalar(select(Suppression.id).where(Suppression.value == key)) is not None:
        raise SuppressedAlreadyError(key)
    suppression = Suppression(value=key, is_domain=is_domain, reason=why, source=source[:200])
    db.session.add(suppression)
    db.session.commit()
    return suppression


def remove_suppression(suppression_id: int) -> None:
    """Lift a suppression."""
    suppression = db.session.get(Suppression, suppression_id)
    if suppression is None:
        raise NotFoundError(_("Suppression not found."))
    db.session.delete(suppression)
    db.session.commit()


def is_suppressed(address: str) -> bool:
    """Tell whether an address, or its domain, is suppressed."""
    key = address_key(address)
    return db.session.scalar(select(Suppression.id).where(
        Suppression.value.in_([key, key.rpartition("@")[2]])).limit(1)) is not None


def suppressed_addresses(addresses: Iterable[str]) -> set[str]:
    """The addresses among these that are suppressed, by themselves or by their domain (one query)."""
    keys = {address: address_key(address) for address in addresses}
    wanted = {*keys.values(), *(key.rpartition("@")[2] for key in keys.values())}
    found = set(db.session.scalars(select(Suppression.value).where(Suppression.value.in_(wanted)))) if wanted else set()
    return {address for address, key in keys.items() if key in found or key.rpartition("@")[2] in found}


def suppressions_query(search: str = "") -> Select[Any]:
    """Return suppressions, newest first, optionally those containing a text."""
    stmt = select(Suppression).order_by(Suppression.id.desc())
    if search:
        stmt = stmt.where(Suppression.value.contains(search.strip().casefold(), autoescape=True))
    return stmt


def suppression_as_dict(suppression: Suppression) -> dict[str, Any]:
    """Serialise a suppression for the API."""
    return {"id": suppression.id, "value": suppression.value, "is_domain": suppression.is_domain,
            "reason": suppression.reason.value, "source": suppression.source,
            "created_at": suppression.created_at.isoformat()}
