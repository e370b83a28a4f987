"""Sending domains: their DKIM keys (kept encrypted with the secret key), rotation, and the DNS records to publish.

Every domain has one active RSA-2048 key, and may have an active Ed25519 key as a second
signature. Rotating makes a pending RSA key under the next selector; mail stays signed with the
current key until the new one is activated, and the old one is then retired: no longer used,
its record listed until the admin removes it (mail in transit still carries its signatures).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

import dns.exception
import dns.resolver
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.checklist import mark_done
from core.crypto import cipher
from core.db import db, utcnow
from core.errors import ConflictError, NotFoundError, ValidationError
from mailer import checklist
from mailer.errors import KeyStateError
from mailer.models import DKIMKey, KeyAlgorithm, KeyState, SendingDomain
from mailer.signing import DKIMSigner, dns_record, new_key_pem

# Selectors are the prefix and a number: kairan1 first, kairan2 for the first rotation, kairan-ed1 for Ed25519.
SELECTOR_PREFIXES = {KeyAlgorithm.RSA: "kairan", KeyAlgorithm.ED25519: "kairan-ed"}
DNS_TIMEOUT = 5.0
# Names no mail can come from: reserved for tests, documentation and local networks (RFC 2606, 6761,
# 6762, 8375; .internal by ICANN) or no host name at all. Receivers refuse or bin such senders.
UNREAL_SUFFIXES = ("localhost", "local", "test", "example", "invalid", "internal", "lan", "home.arpa",
                   "example.com", "example.net", "example.org")


def add_domain(name: str) -> SendingDomain:
    """Add a sending domain with a new, active RSA-2048 key."""
    try:
        domain = str(validate_email(f"postmaster@{name.strip().lower()}", check_deliverability=False).domain)
    except EmailNotValidError:
        raise ValidationError(_("%(value)s is not a domain.", value=name), field="domain") from None
    if db.session.scalar(select(SendingDomain.id).where(SendingDomain.domain == domain)) is not None:
        raise ConflictError(_("%(domain)s is already a sending domain.", domain=domain), field="domain")
    sending = SendingDomain(domain=domain)
    _new_key(sending, KeyAlgorithm.RSA, KeyState.ACTIVE)
    db.session.add(sending)
    db.session.commit()
    return sending


def _new_key(sending: SendingDomain, algorithm: KeyAlgorithm, state: KeyState) -> DKIMKey:
    """Make a key under the algorithm's next selector (never one still listed for the domain)."""
    prefix = SELECTOR_PREFIXES[algorithm]
    used = [int(key.selector[len(prefix):]) for key in sending.keys
            if key.selector.startswith(prefix) and key.selector[len(prefix):].isdigit()]
    key = DKIMKey(selector=f"{prefix}{max(used, default=0) + 1}", algorithm=algorithm, state=state,
                  private_key=cipher("dkim").encrypt(new_key_pem(algorithm.value)).decode(),
                  activated_at=utcnow() if state == KeyState.ACTIVE else None)
    sending.keys.append(key)
    return key


def bounce_domain_for(domain: str) -> str:
    """Return the domain VERP return paths of mail from ``domain`` use (its MX must reach Kairan's inbound server)."""
    return current_app.config["KAIRAN"].bounce_domain or f"bounce.{domain}"


def unreal_sender(address: str) -> str | None:
    """Say why mail from this address cannot reach an inbox when its domain cannot be real, else None."""
    domain = parseaddr(address)[1].rpartition("@")[2].strip("[]").lower().rstrip(".")
    try:
        ipaddress.ip_address(domain)
    except ValueError:
        if "." in domain and not domain.endswith(tuple(f".{suffix}" for suffix in UNREAL_SUFFIXES)) \
                and domain not in UNREAL_SUFFIXES:
            return None
    return _("The sender %(address)s is not a real mail domain: receivers will refuse or bin the mail. Give the "
             "campaign a From address at your own domain (or set KAIRAN_MAIL_FROM).", address=address)


def all_domains() -> list[SendingDomain]:
    """Return every sending domain, by name, with its keys."""
    return list(db.session.scalars(select(SendingDomain).options(selectinload(SendingDomain.keys))
                                   .order_by(SendingDomain.domain)))


def get_domain(domain_id: int) -> SendingDomain:
    """Return a sending domain or raise NotFoundError."""
    found = db.session.get(SendingDomain, domain_id)
    if found is None:
        raise NotFoundError(_("Sending domain not found."))
    return found


def get_key(sending: SendingDomain, key_id: int) -> DKIMKey:
    """Return one of the domain's keys or raise NotFoundError."""
    found = next((key for key in sending.keys if key.id == key_id), None)
    if found is None:
        raise NotFoundError(_("DKIM key not found."))
    return found


def delete_domain(sending: SendingDomain) -> None:
    """Forget a sending domain and its keys."""
    db.session.delete(sending)
    db.session.commit()


def private_key(key: DKIMKey) -> bytes:
    """Return a key's private half (PEM)."""
    return cipher("dkim").decrypt(key.private_key.encode())


def active_key(sending: SendingDomain, algorithm: KeyAlgorithm) -> DKIMKey | None:
    """Return the domain's key of this algorithm that signs mail now."""
    return next((key for key in sending.keys if key.algorithm == algorithm and key.state == KeyState.ACTIVE), None)


def set_ed25519(sending: SendingDomain, on: bool) -> DKIMKey | None:
    """Turn the Ed25519 second signature on (a new key, signing at once) or off (its key retires).

    It signs before its record is published: a receiver that finds no key ignores that signature
    and judges the mail by the RSA one, so nothing is lost while DNS catches up.
    """
    current = active_key(sending, KeyAlgorithm.ED25519)
    if on and current is None:
        current = _new_key(sending, KeyAlgorithm.ED25519, KeyState.ACTIVE)
    elif not on and current is not None:
        _retire(current)
        current = None
    db.session.commit()
    return current


def rotate(sending: SendingDomain) -> DKIMKey:
    """Make a new RSA key, pending: mail stays signed with the current key until it is activated."""
    waiting = next((key for key in sending.keys if key.state == KeyState.PENDING), None)
    if waiting is not None:
        raise ConflictError(_("The key %(selector)s is already waiting to be activated: activate or remove it first.",
                              selector=waiting.selector))
    key = _new_key(sending, KeyAlgorithm.RSA, KeyState.PENDING)
    db.session.commit()
    return key


def activate(sending: SendingDomain, key: DKIMKey, force: bool = False) -> None:
    """Make a pending key the one that signs, once DNS shows its record (or at once when forced)."""
    if key.state != KeyState.PENDING:
        raise KeyStateError(_("%(selector)s is not waiting to be activated.", selector=key.selector))
    if not force:
        found = _check_key(sending, key)
        if not found["ok"]:
            raise KeyStateError(found["message"] + " " + _("Publish the record first, or activate it anyway."))
    current = active_key(sending, key.algorithm)
    if current is not None:
        _retire(current)
    key.state, key.activated_at = KeyState.ACTIVE, utcnow()
    db.session.commit()


def _retire(key: DKIMKey) -> None:
    key.state, key.retired_at = KeyState.RETIRED, utcnow()


def remove_key(sending: SendingDomain, key: DKIMKey) -> None:
    """Forget a retired or pending key (remove its DNS record too); a key that signs cannot go."""
    if key.state == KeyState.ACTIVE:
        raise KeyStateError(_("%(selector)s signs mail: rotate the RSA key or turn Ed25519 off before removing it.",
                                selector=key.selector))
    sending.keys.remove(key)
    db.session.commit()


def signer_for(address: str) -> DKIMSigner | None:
    """Return the DKIM signer of the sending domain an address belongs to, or None when it has none."""
    domain = address.rpartition("@")[2].lower()
    sending = db.session.scalar(select(SendingDomain).options(selectinload(SendingDomain.keys))
                                .where(SendingDomain.domain == domain))
    rsa = active_key(sending, KeyAlgorithm.RSA) if sending else None
    if sending is None or rsa is None:
        return None
    ed25519 = active_key(sending, KeyAlgorithm.ED25519)
    return DKIMSigner(sending.domain, rsa.selector, private_key(rsa),
                      (ed25519.selector, private_key(ed25519)) if ed25519 else None)


@dataclass(frozen=True)
class Record:
    """One DNS record to publish; DKIM records name their key."""

    kind: str
    name: str
    value: str
    purpose: str
    key: DKIMKey | None = None


def _key_purpose(key: DKIMKey) -> str:
    if key.state == KeyState.PENDING:
        return _("New key: publish this record, check DNS, then activate it. Mail is signed with the current key "
                 "until then.")
    if key.state == KeyState.RETIRED:
        return _("Retired: it signs no more. Keep the record a few days for mail still in transit, then remove it "
                 "here and at your DNS provider.")
    if key.algorithm == KeyAlgorithm.ED25519:
        return _("DKIM (Ed25519): the second signature (RFC 8463); receivers that do not know Ed25519 rely on "
                 "the RSA one.")
    return _("DKIM: receivers check Kairan's signature with this key.")


def _mx_host() -> str | None:
    """The host of KAIRAN_BASE_URL when an MX may name it (not an IP address or localhost)."""
    host = urlsplit(current_app.config["KAIRAN"].base_url).hostname or ""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        return host if "." in host else None


def spf_suggestion() -> str:
    """An SPF record to start from, its placeholder in the reader's language."""
    placeholder = _("<your relay’s SPF domain>")
    return f"v=spf1 a mx include:{placeholder} ~all"


def dns_records(sending: SendingDomain) -> list[Record]:
    """Return the records that make mail from this domain authenticate and bounce back: DKIM, SPF, DMARC, MX."""
    bounce = bounce_domain_for(sending.domain)
    host = _mx_host()
    records = [Record("TXT", f"{key.selector}._domainkey.{sending.domain}", dns_record(private_key(key)),
                      _key_purpose(key), key) for key in sending.keys]
    return [
        *records,
        Record("TXT", sending.domain, spf_suggestion(),
               _("SPF: name the servers that send for you (merge with an SPF record you have; one per domain).")),
        Record("TXT", bounce, spf_suggestion(),
               _("SPF of the bounce domain: mail goes out with a return path on %(domain)s, and that is the "
                 "domain SPF checks.", domain=bounce)),
        Record("TXT", f"_dmarc.{sending.domain}", f"v=DMARC1; p=none; rua=mailto:dmarc@{sending.domain}",
               _("DMARC: start with p=none and read the reports before tightening it.")),
        Record("MX", bounce, f"10 {host}." if host else _("10 <the host name of your Kairan server>."),
               _("Bounces: return paths (bounce+…@%(domain)s) come back to this host, where Kairan's inbound "
                 "server (flask bounces serve, port 25) receives them.", domain=bounce)),
    ]


def _resolve(name: str, kind: str) -> dns.resolver.Answer:
    """Look a record up with the system's resolver, or the (host, port) app.config["DNS_NAMESERVER"] names."""
    resolver = dns.resolver.Resolver()
    nameserver = current_app.config.get("DNS_NAMESERVER")
    if nameserver:
        resolver.nameservers, resolver.port = [nameserver[0]], nameserver[1]
    return resolver.resolve(name, kind, lifetime=DNS_TIMEOUT)


def _check_key(sending: SendingDomain, key: DKIMKey) -> dict[str, Any]:
    name = f"{key.selector}._domainkey.{sending.domain}"
    expected = dns_record(private_key(key)).split("p=", 1)[1]
    try:
        answers = _resolve(name, "TXT")
    except (dns.exception.DNSException, OSError) as error:
        return {"type": "TXT", "name": name, "ok": False, "message": _(
            "The DKIM record %(name)s could not be found: %(error)s", name=name, error=error.__class__.__name__)}
    published = "".join(b"".join(answer.strings).decode() for answer in answers)
    if expected in published.replace(" ", ""):
        return {"type": "TXT", "name": name, "ok": True,
                "message": _("The DKIM record %(name)s is published and matches the key.", name=name)}
    return {"type": "TXT", "name": name, "ok": False,
            "message": _("%(name)s exists but carries another key.", name=name)}


def _check_mx(bounce: str) -> dict[str, Any]:
    try:
        answers = _resolve(bounce, "MX")
    except (dns.exception.DNSException, OSError) as error:
        return {"type": "MX", "name": bounce, "ok": False, "message": _(
            "The bounce domain %(name)s has no MX record: %(error)s", name=bounce, error=error.__class__.__name__)}
    hosts = sorted(str(answer.exchange).rstrip(".").lower() for answer in answers)
    expected = _mx_host()
    if expected is None or expected.lower() in hosts:
        return {"type": "MX", "name": bounce, "ok": True,
                "message": _("The MX of %(name)s is %(hosts)s.", name=bounce, hosts=", ".join(hosts))}
    return {"type": "MX", "name": bounce, "ok": False, "message": _(
        "The MX of %(name)s is %(hosts)s, not %(expected)s.", name=bounce, hosts=", ".join(hosts), expected=expected)}


def check_dns(sending: SendingDomain) -> dict[str, Any]:
    """Look up the records Kairan depends on (the DKIM keys that sign or will, the bounce MX); needs reachable DNS."""
    results = [_check_key(sending, key) for key in sending.keys if key.state != KeyState.RETIRED]
    results.append(_check_mx(bounce_domain_for(sending.domain)))
    failed = [result for result in results if not result["ok"]]
    if not any(result["type"] == "TXT" for result in failed):  # the setup checklist's steps
        mark_done(checklist.DKIM)
    if results[-1]["ok"]:
        mark_done(checklist.BOUNCE_MX)
    message = (_("All %(count)d records are published.", count=len(results)) if not failed
               else " ".join(result["message"] for result in failed))
    return {"ok": not failed, "message": message, "records": results}


def key_as_dict(key: DKIMKey) -> dict[str, Any]:
    """Serialise a key: its selector, type and state (its record is in the domain's "dns"; never its private half)."""
    return {"id": key.id, "selector": key.selector, "algorithm": key.algorithm.value, "state": key.state.value,
            "created_at": key.created_at.isoformat(),
            "activated_at": key.activated_at.isoformat() if key.activated_at else None,
            "retired_at": key.retired_at.isoformat() if key.retired_at else None}


def domain_as_dict(sending: SendingDomain) -> dict[str, Any]:
    """Serialise a sending domain with its keys and DNS records (never a private key)."""
    rsa = active_key(sending, KeyAlgorithm.RSA)
    return {"id": sending.id, "domain": sending.domain, "selector": rsa.selector if rsa else None,
            "ed25519": active_key(sending, KeyAlgorithm.ED25519) is not None,
            "bounce_domain": bounce_domain_for(sending.domain), "created_at": sending.created_at.isoformat(),
            "keys": [key_as_dict(key) for key in sending.keys],
            "dns": [{"type": r.kind, "name": r.name, "value": r.value, "purpose": r.purpose,
                     "selector": r.key.selector if r.key else None, "state": r.key.state.value if r.key else None,
                     "key_id": r.key.id if r.key else None}
                    for r in dns_records(sending)]}
