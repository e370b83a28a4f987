"""Amazon SNS as the webhook tests meet it: a signing key and certificates made here, messages signed with them."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask.testing import FlaskClient

TOPIC = "arn:aws:sns:ap-northeast-1:123456789012:ses-bounces"


@dataclass(frozen=True)
class Sent:
    """One reader's delivery of the campaign: how a provider would name it."""

    delivery_id: int
    campaign_id: int
    email: str
    message_id: str  # with angle brackets, as the header carries it
    return_path: str  # bounce+TOKEN@bounce domain


def certificate(subject: str, key: Any, issuer: x509.Certificate | None, issuer_key: Any,
                 ca: bool = False, hosts: tuple[str, ...] = ()) -> x509.Certificate:
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class FakeAWS:
    """A real HTTPS server on loopback standing in for sns.<region>.amazonaws.com."""

    base: str  # https://localhost:PORT
    ca_file: str
    signing_key: rsa.RSAPrivateKey
    requests: list[str]


# Written from AWS's "Verifying the signatures of Amazon SNS messages", apart from tracking/sns.py's own list.
_SIGNED = {"Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
           "SubscriptionConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                                        "Type"]}


def sns_message(aws: FakeAWS, kind: str, version: str = "2", **fields: Any) -> dict[str, Any]:
    """An SNS message as SNS posts it, signed with the stand-in's key (SHA1 for version 1, SHA256 for 2)."""
    message = {"Type": kind, "MessageId": secrets.token_hex(8), "TopicArn": TOPIC,
               "Timestamp": "2026-01-05T09:00:00.000Z", "SignatureVersion": version,
               "SigningCertURL": f"{aws.base}/SimpleNotificationService-{version}.pem", **fields}
    text = "".join(f"{name}\n{message[name]}\n" for name in _SIGNED[kind] if name in message)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - SNS's SignatureVersion 1 is SHA1
    message["Signature"] = base64.b64encode(aws.signing_key.sign(text.encode(), padding.PKCS1v15(), digest)).decode()
    return message


def ses_bounce(reader: Sent, bounce_type: str, status: str, diagnostic: str) -> str:
    """An SES bounce notification about a message sent through SES with our envelope sender and headers."""
    return json.dumps({
        "notificationType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bounceSubType": "General", "feedbackId": "0101-feedback",
                   "bouncedRecipients": [{"emailAddress": reader.email, "action": "failed", "status": status,
                                          "diagnosticCode": diagnostic}]},
        "mail": {"messageId": "0101018d-ses-own-id", "source": reader.return_path, "destination": [reader.email],
                 "headers": [{"name": "Message-ID", "value": reader.message_id}]}})


def post_sns(client: FlaskClient, message: dict[str, Any]) -> Any:
    return client.post("/webhooks/service/ses", data=json.dumps(message), content_type="text/plain; charset=UTF-8",
                       headers={"x-amz-sns-message-type": message["Type"]})
