"""Sending domains: their DKIM keys (kept encrypted with the secret key) and the DNS records to publish."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.resolver
from cryptography.fernet import Fernet
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db
from core.errors import ConflictError, NotFoundError, ValidationError
from mailer.models import SendingDomain
from mailer.signing import DKIMSigner, dns_record, new_key_pem

SELECTOR = "kairan1"  # the first key's selector; a rotated key gets the next number
DNS_TIMEOUT = 5.0


def _fernet() -> Fernet:
    """The cipher for private keys, derived from KAIRAN_SECRET_KEY (a new secret key makes them unreadable)."""
    digest = hashlib.sha256(b"kairan.dkim:" + current_app.config["SECRET_KEY"].encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def add_domain(name: str) -> SendingDomain:
    """Add a sending domain with a new RSA-2048 key."""
    try:
        domain = str(validate_email(f"postmaster@{name.strip().lower()}", check_deliverability=False).domain)
    except EmailNotValidError:
        raise ValidationError(_("%(value)s is not a domain.", value=name)) from None
    if db.session.scalar(select(SendingDomain.id).where(SendingDomain.domain == domain)) is not None:
        raise ConflictError(_("%(domain)s is already a sending domain.", domain=domain))
    sending = SendingDomain(domain=domain, selector=SELECTOR,
                            private_key=_fernet().encrypt(new_key_pem()).decode())
    db.session.add(sending)
    db.session.commit()
    return sending


def all_domains() -> list[SendingDomain]:
    """Return every sending domain, by name."""
    return list(db.session.scalars(select(SendingDomain).order_by(SendingDomain.domain)))


def get_domain(domain_id: int) -> SendingDomain:
    """Return a sending domain or raise NotFoundError."""
    found = db.session.get(SendingDomain, domain_id)
    if found is None:
        raise NotFoundError(_("Sending domain not found."))
    return found


def delete_domain(sending: SendingDomain) -> None:
    """Forget a sending domain and its key."""
    db.session.delete(sending)
    db.session.commit()


def private_key(sending: SendingDomain) -> bytes:
    """Return a domain's private key (PEM)."""
    return _fernet().decrypt(sending.private_key.encode())


def signer_for(address: str) -> DKIMSigner | None:
    """Return the DKIM signer of the sending domain an address belongs to, or None when it has none."""
    domain = address.rpartition("@")[2].lower()
    sending = db.session.scalar(select(SendingDomain).where(SendingDomain.domain == domain))
    return DKIMSigner(sending.domain, sending.selector, private_key(sending)) if sending else None


@dataclass(frozen=True)
class Record:
    """One DNS record to publish."""

    kind: str
    name: str
    value: str
    purpose: str


def dns_records(sending: SendingDomain) -> list[Record]:
    """Return the records that make mail from this domain authenticate: DKIM, SPF, DMARC."""
    return [
        Record("TXT", f"{sending.selector}._domainkey.{sending.domain}", dns_record(private_key(sending)),
               _("DKIM: receivers check Kairan's signature with this key.")),
        Record("TXT", sending.domain, "v=spf1 a mx include:<your relay's SPF domain> ~all",
               _("SPF: name the servers that send for you (merge with an SPF record you have; one per domain).")),
        Record("TXT", f"_dmarc.{sending.domain}", f"v=DMARC1; p=none; rua=mailto:dmarc@{sending.domain}",
               _("DMARC: start with p=none and read the reports before tightening it.")),
    ]


def check_dns(sending: SendingDomain) -> dict[str, Any]:
    """Look up the DKIM record and say whether it carries this domain's key (needs reachable DNS)."""
    name = f"{sending.selector}._domainkey.{sending.domain}"
    expected = dns_record(private_key(sending)).split("p=", 1)[1]
    try:
        answers = dns.resolver.resolve(name, "TXT", lifetime=DNS_TIMEOUT)
    except (dns.exception.DNSException, OSError) as error:
        return {"ok": False, "message": _("The DKIM record %(name)s could not be found: %(error)s",
                                          name=name, error=error.__class__.__name__)}
    published = "".join(b"".join(answer.strings).decode() for answer in answers)
    if expected in published.replace(" ", ""):
        return {"ok": True, "message": _("The DKIM record is published and matches the key.")}
    return {"ok": False, "message": _("%(name)s exists but carries another key.", name=name)}


def domain_as_dict(sending: SendingDomain) -> dict[str, Any]:
    """Serialise a sending domain with its DNS records (never its private key)."""
    return {"id": sending.id, "domain": sending.domain, "selector": sending.selector,
            "created_at": sending.created_at.isoformat(),
            "dns": [{"type": r.kind, "name": r.name, "value": r.value, "purpose": r.purpose}
                    for r in dns_records(sending)]}
