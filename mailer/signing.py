"""DKIM signing at sending speed: dkimpy's canonicalisation rules, OpenSSL's RSA and Ed25519.

``dkim.sign()`` re-parses the PEM key and re-splits the whole message for every call (~2.5 ms
for 64 KB, measured here). This signer parses its keys once, hashes the body as it was built
(``simple`` canonicalisation: our bodies are base64 lines ending in CRLF, with no trailing
space), and canonicalises only the headers it signs (``relaxed``, with dkimpy's own
functions). A domain with Ed25519 on gets a second signature (RFC 8463) over the same body
hash and headers. ``dkim.verify`` accepts both (tests/mailer/test_mime.py).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import Counter
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from dkim.canonicalization import Relaxed, Simple

# Signed as docs/architecture.md's sending rules list them, each oversigned (see DKIMSigner.sign).
SIGNED_HEADERS = ("from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                  "list-id", "list-unsubscribe", "list-unsubscribe-post", "feedback-id", "reply-to")
RSA, ED25519 = "rsa", "ed25519"  # DKIM's k= names, also how keys are stored (mailer/models.py)

Header = tuple[bytes, bytes]  # (name, value) as they go on the wire, without the CRLF


class _Key:
    """One private key, parsed once, with its selector and its a= algorithm."""

    def __init__(self, selector: str, private_key_pem: bytes) -> None:
        # Our own keys, made by Kairan: skipping OpenSSL's RSA consistency check saves ~60 ms a parse.
        key = serialization.load_pem_private_key(private_key_pem, password=None, unsafe_skip_rsa_key_validation=True)
        if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise ValueError("A DKIM key must be RSA or Ed25519.")
        self.key = key
        self.kind = RSA if isinstance(key, rsa.RSAPrivateKey) else ED25519
        self.selector = selector.encode()

    def sign(self, data: bytes) -> bytes:
        """Sign the canonicalised header data."""
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        # RFC 8463 section 3: PureEdDSA over the SHA-256 digest of the data RSA signs (dkimpy does the same).
        return self.key.sign(hashlib.sha256(data).digest())


class DKIMSigner:
    """DKIM signatures for one domain: RSA-SHA256 always, Ed25519-SHA256 second when a key is given for it."""

    def __init__(self, domain: str, selector: str, private_key_pem: bytes,
                 ed25519_key: tuple[str, bytes] | None = None) -> None:
        self.keys = [_Key(selector, private_key_pem)]
        if self.keys[0].kind != RSA:
            raise ValueError("DKIM signing needs an RSA private key (Gmail, Microsoft and Yahoo do not all "
                             "verify Ed25519).")
        if ed25519_key is not None:
            self.keys.append(_Key(*ed25519_key))
            if self.keys[1].kind != ED25519:
                raise ValueError("The second DKIM key must be Ed25519.")
        self.domain = domain.encode("idna")

    def sign(self, headers: Sequence[Header], body: bytes, now: int | None = None) -> list[Header]:
        """Return the DKIM-Signature headers for a message's headers and body, RSA first."""
        body_hash = base64.b64encode(hashlib.sha256(Simple.canonicalize_body(body)).digest())
        # Oversigning (RFC 6376 8.15): h= names each header once more than the message has it, a header
        # it lacks too. That last name finds no instance and signs its absence, so a Subject,
        # List-Unsubscribe or Reply-To added anywhere on the way breaks the signature.
        present = Counter(name.lower() for name, _value in headers)
        names = [name for name in SIGNED_HEADERS for _ in range(present[name.encode()] + 1)]
        signed_headers = b"".join(name + b":" + value
                                  for name, value in Relaxed.canonicalize_headers(_pick(headers, names)))
        timestamp = str(now or int(time.time())).encode()
        signatures = []
        for key in self.keys:
            tags = b"; ".join([
                b"v=1", b"a=" + key.kind.encode() + b"-sha256", b"c=relaxed/simple", b"d=" + self.domain,
                b"s=" + key.selector, b"t=" + timestamp, b"h=" + ":".join(names).encode(), b"bh=" + body_hash, b"b=",
            ])
            ((name, value),) = Relaxed.canonicalize_headers([(b"DKIM-Signature", tags)])
            signature = key.sign(signed_headers + name + b":" + value[:-2])  # its own CRLF is not signed
            signatures.append((b"DKIM-Signature", tags + base64.b64encode(signature)))
        return signatures


def _pick(headers: Sequence[Header], names: Sequence[str]) -> list[Header]:
    """Select headers for h= as RFC 6376 5.4.2 says: each name takes its last unused instance, bottom up."""
    remaining = list(headers)
    picked = []
    for name in names:
        for index in range(len(remaining) - 1, -1, -1):
            if remaining[index][0].lower() == name.encode():
                picked.append(remaining.pop(index))
                break
    return picked


def new_key_pem(kind: str = RSA) -> bytes:
    """Generate a private key (PEM, PKCS#8) for a sending domain: RSA-2048, or Ed25519."""
    if kind not in (RSA, ED25519):
        raise ValueError(f"Unknown DKIM key type {kind!r}: use {RSA!r} or {ED25519!r}.")
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == RSA
        else ed25519.Ed25519PrivateKey.generate())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def dns_record(private_key_pem: bytes) -> str:
    """Return the TXT record value that publishes a key's public half (v=DKIM1; k=rsa|ed25519; p=…)."""
    key = _Key("", private_key_pem).key
    if isinstance(key, rsa.RSAPrivateKey):
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
    # RFC 8463 section 4: the bare 32-byte public key, not wrapped in SubjectPublicKeyInfo.
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
