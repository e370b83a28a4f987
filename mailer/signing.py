"""DKIM signing at sending speed: dkimpy's canonicalisation rules, OpenSSL's RSA.

``dkim.sign()`` re-parses the PEM key and re-splits the whole message for every call (~2.5 ms
for 64 KB, DESIGN.md). This signer parses the key once, hashes the body as it was built
(``simple`` canonicalisation: our bodies are base64 lines ending in CRLF, with no trailing
space), and canonicalises only the headers it signs (``relaxed``, with dkimpy's own
functions). ``dkim.verify`` accepts what it makes (tests/mailer/test_mime.py).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from dkim.canonicalization import Relaxed, Simple

# Signed as DESIGN.md's sending rules list them; From twice, so no second From can be added unnoticed.
SIGNED_HEADERS = ("from", "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                  "list-id", "list-unsubscribe", "list-unsubscribe-post", "feedback-id", "reply-to")

Header = tuple[bytes, bytes]  # (name, value) as they go on the wire, without the CRLF


class DKIMSigner:
    """An RSA-SHA256 DKIM signer for one domain and selector; its key is parsed once."""

    def __init__(self, domain: str, selector: str, private_key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("DKIM signing needs an RSA private key.")
        self.key = key
        self.domain = domain.encode("idna")
        self.selector = selector.encode()

    def sign(self, headers: Sequence[Header], body: bytes, now: int | None = None) -> Header:
        """Return the DKIM-Signature header for a message's headers and body."""
        body_hash = base64.b64encode(hashlib.sha256(Simple.canonicalize_body(body)).digest())
        # The second "from" finds no instance left: it signs the absence of another From (oversigning).
        names = [name for name in SIGNED_HEADERS if any(h[0].lower() == name.encode() for h in headers)]
        tags = b"; ".join([
            b"v=1", b"a=rsa-sha256", b"c=relaxed/simple", b"d=" + self.domain, b"s=" + self.selector,
            b"t=" + str(now or int(time.time())).encode(), b"h=" + ":".join(names).encode(),
            b"bh=" + body_hash, b"b=",
        ])
        signed = b"".join(name + b":" + value for name, value in Relaxed.canonicalize_headers(
            [*_pick(headers, names), (b"DKIM-Signature", tags)]))
        signature = self.key.sign(signed[:-2], padding.PKCS1v15(), hashes.SHA256())  # the last CRLF is not signed
        return b"DKIM-Signature", tags + base64.b64encode(signature)


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


def new_key_pem(bits: int = 2048) -> bytes:
    """Generate an RSA private key (PEM, PKCS#8) for a sending domain."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def dns_record(private_key_pem: bytes) -> str:
    """Return the TXT record value that publishes a key's public half (v=DKIM1; k=rsa; p=…)."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
