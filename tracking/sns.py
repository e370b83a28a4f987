"""Amazon SNS messages: signature checked, signing certificate fetched only from AWS, subscriptions confirmed.

SNS signs every message it posts with the key of a certificate it names by URL (SigningCertURL). The
URL comes in the message, so it is trusted only when it is https on port 443 of ``sns.<region>.amazonaws.com``
(``.com.cn`` in China) and its TLS certificate checks out against the system's CAs; SubscribeURL is
held to the same rule before Kairan GETs it. Certificates are kept per URL (SNS uses a handful).

Tests cannot reach AWS. Rather than a switch that turns checks off, the host rule and the CA file are
read from app.config keys (``SNS_TEST_HOSTS``, ``SNS_TEST_CA_FILE``) that no ``KAIRAN_*`` variable can
set, so production always runs with the rule above; a test points them at a real TLS server on loopback
that serves a certificate the test made, and everything else (TLS, fetch, signature) runs as in production.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import logging
import re
import ssl
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import current_app

log = logging.getLogger(__name__)

AWS_HOSTS = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?")  # matched against the whole netloc: no port
FETCH_TIMEOUT = 10.0  # seconds; SNS retries a notification we could not verify in time
MAX_FETCH_BYTES = 64 * 1024  # a signing certificate is ~2 KB; a confirmation answer less
CERT_CACHE_SIZE = 32

# What is signed, in this order (AWS: "Verifying the signatures of Amazon SNS messages"); Subject only if present.
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}  # SignatureVersion: SHA1withRSA, SHA256withRSA

_cache: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
_cache_lock = threading.Lock()


class SNSError(Exception):
    """An SNS message that cannot be trusted or used; the message says why (for the log and the answer)."""


@dataclass(frozen=True)
class Trust:
    """Which hosts SNS URLs may name, and which CAs their TLS certificates must chain to (None: the system's)."""

    hosts: re.Pattern[str]
    ca_file: str | None


def trust() -> Trust:
    """Production's rule, unless a test configured its own local server (see the module docstring)."""
    config = current_app.config
    hosts = config.get("SNS_TEST_HOSTS")
    return Trust(re.compile(hosts) if hosts else AWS_HOSTS, config.get("SNS_TEST_CA_FILE"))


def canonical(message: dict[str, Any]) -> bytes:
    """The string SNS signed for this message type."""
    fields = SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise SNSError(f"unknown SNS message type {message.get('Type')!r}")
    lines = []
    for name in fields:
        if name not in message:
            if name == "Subject":
                continue
            raise SNSError(f"the SNS message has no {name}")
        lines.append(f"{name}\n{message[name]}\n")
    return "".join(lines).encode()


def verify(message: dict[str, Any], rules: Trust) -> None:
    """Raise SNSError unless AWS signed this message with the certificate it names."""
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None or not message.get("Signature") or not message.get("SigningCertURL"):
        raise SNSError("not a signed SNS message (raw message delivery must be off)")
    try:
        signature = base64.b64decode(str(message["Signature"]), validate=True)
    except (binascii.Error, ValueError):
        raise SNSError("the signature is not base64") from None
    key = signing_key(str(message["SigningCertURL"]), rules)
    try:
        key.verify(signature, canonical(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise SNSError("the signature does not match the message") from None


def signing_key(url: str, rules: Trust) -> rsa.RSAPublicKey:
    """The public key of the certificate at ``url``, fetched once per process and kept."""
    with _cache_lock:
        if url in _cache:
            _cache.move_to_end(url)
            return _cache[url]
    try:
        certificate = x509.load_pem_x509_certificate(fetch(url, rules))
    except ValueError:
        raise SNSError(f"{url} did not serve a PEM certificate") from None
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SNSError(f"the signing certificate at {url} is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SNSError(f"the signing certificate at {url} holds no RSA key")
    with _cache_lock:
        _cache[url] = key
        while len(_cache) > CERT_CACHE_SIZE:
            _cache.popitem(last=False)
    return key


def fetch(url: str, rules: Trust) -> bytes:
    """GET an https URL on a host the rules allow, over verified TLS, following no redirect."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not rules.hosts.fullmatch(parts.netloc.lower()):
        raise SNSError(f"{url!r} is not an https URL of Amazon SNS")
    context = ssl.create_default_context(cafile=rules.ca_file)
    connection = http.client.HTTPSConnection(parts.hostname or "", parts.port or 443, timeout=FETCH_TIMEOUT,
                                             context=context)
    try:
        connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        response = connection.getresponse()
        body = response.read(MAX_FETCH_BYTES)
    except (OSError, http.client.HTTPException) as error:
        raise SNSError(f"could not fetch {parts.scheme}://{parts.netloc}{parts.path}: {error}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise SNSError(f"{parts.scheme}://{parts.netloc}{parts.path} answered {response.status}")
    return body


def confirm_subscription(message: dict[str, Any], rules: Trust) -> None:
    """Confirm a (verified) subscription by visiting its SubscribeURL, as AWS asks."""
    fetch(str(message.get("SubscribeURL", "")), rules)
    log.info("confirmed the SNS subscription to %s", message.get("TopicArn"))
