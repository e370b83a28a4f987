"""Bounce webhooks: each provider's real payload shape, really signed, about a campaign really sent.

Every key here is made by the test (RSA for SNS, ECDSA P-256 for SendGrid, an HMAC key for Mailgun) and
every signature is checked by the code under test. SNS's signing certificate and SubscribeURL are served
by a real TLS server on loopback with a certificate authority made here; the app is pointed at it
through the two app.config keys no environment variable can set (tracking/sns.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from core.db import db
from core.settings import SettingsError, load_settings
from core.tokens import Mark, mark_token
from lists.models import Subscriber
from mailer.models import Campaign, Delivery
from mailer.outbox import Outbox
from tests.helpers import api_user
from tests.tracking.helpers import bounces, send_to_readers, suppressed
from tests.tracking.sns_stand_in import TOPIC, FakeAWS, Sent, post_sns, ses_bounce, sns_message
from tracking.models import Bounce
from tracking.settings import WEBHOOKS

POSTMARK = ("postmark-hooks", "a long postmark password")
MAILGUN_KEY = "key-" + "3ax6xnjp29jd6fds4gc373sgvjxteol0"
READERS = ("taro", "hanako", "jiro")
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """An installation with every provider's webhook on."""
    public_der = SENDGRID_KEY.public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return {**settings_env, "KAIRAN_SES_TOPIC_ARNS": TOPIC,
            "KAIRAN_SENDGRID_WEBHOOK_KEY": base64.b64encode(public_der).decode(),
            "KAIRAN_POSTMARK_WEBHOOK_USER": POSTMARK[0], "KAIRAN_POSTMARK_WEBHOOK_PASSWORD": POSTMARK[1],
            "KAIRAN_MAILGUN_SIGNING_KEY": MAILGUN_KEY}


@pytest.fixture
def sent(app: Flask, client: FlaskClient, capture: Outbox) -> dict[str, Sent]:
    """A campaign really sent (RQ worker, capture SMTP server) to one reader per name in READERS."""
    send_to_readers(app, client, READERS, name="11月号", from_email="回覧商事 <news@kairan.example>",
                    body="<p>こんにちは</p>")
    found = {}
    with app.app_context():
        for delivery, email in db.session.execute(select(Delivery, Subscriber.email).join(
                Subscriber, Subscriber.id == Delivery.subscriber_id)):
            assert delivery.message_id
            found[email.split("@")[0]] = Sent(delivery.id, delivery.campaign_id, email, delivery.message_id,
                                              f"bounce+{mark_token(Mark.BOUNCE, delivery.id)}@bounce.kairan.example")
    assert sorted(found) == sorted(READERS)
    return found


# --- Amazon SES through SNS ------------------------------------------------------------------------------------

def test_ses_confirms_its_subscription_and_a_signed_bounce_suppresses_the_delivery_it_names(
        sns_app: Flask, client: FlaskClient, sent: dict[str, Sent], aws: FakeAWS) -> None:
    confirm = sns_message(aws, "SubscriptionConfirmation", version="1", Token="abc123",
                          Message="You have chosen to subscribe to the topic.",
                          SubscribeURL=f"{aws.base}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc123")
    assert post_sns(client, confirm).status_code == 200
    assert f"/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc123" in aws.requests

    taro = sent["taro"]
    notice = sns_message(aws, "Notification", Subject="Amazon SES Email Event Notification",
                         Message=ses_bounce(taro, "Permanent", "5.1.1", "smtp; 550 5.1.1 user unknown"))
    response = post_sns(client, notice)
    assert response.status_code == 200 and response.get_json() == {"data": True}
    assert bounces(sns_app) == [("taro@example.jp", "hard", "ses", taro.delivery_id, False)]
    assert suppressed(sns_app) == {"taro@example.jp": "hard_bounce"}
    with sns_app.app_context():
        bounce = db.session.scalars(select(Bounce)).one()
        assert (bounce.campaign_id, bounce.status) == (taro.campaign_id, "5.1.1")
        assert bounce.meta["ses_message_id"] == "0101018d-ses-own-id"
    # SNS delivers at least once: the same message again is answered and recorded once.
    assert post_sns(client, notice).status_code == 200 and len(bounces(sns_app)) == 1

    # A mailbox-full transient bounce and a complaint; the certificate was fetched once for all of them.
    hanako, jiro = sent["hanako"], sent["jiro"]
    full = ses_bounce(hanako, "Transient", "4.2.2", "smtp; 452 4.2.2 Mailbox full")
    assert post_sns(client, sns_message(aws, "Notification", Message=full)).status_code == 200
    complaint = json.dumps({"notificationType": "Complaint", "complaint": {
        "complainedRecipients": [{"emailAddress": jiro.email}], "complaintFeedbackType": "abuse"},
        "mail": {"source": jiro.return_path, "headers": []}})
    assert post_sns(client, sns_message(aws, "Notification", Message=complaint)).status_code == 200
    assert bounces(sns_app)[1:] == [("hanako@example.jp", "soft", "ses", hanako.delivery_id, False),
                                    ("jiro@example.jp", "complaint", "ses", jiro.delivery_id, False)]
    assert suppressed(sns_app) == {"taro@example.jp": "hard_bounce", "jiro@example.jp": "complaint"}
    assert aws.requests.count("/SimpleNotificationService-2.pem") == 1


def test_ses_refuses_forged_foreign_and_unsigned_messages_and_records_nothing(
        sns_app: Flask, client: FlaskClient, sent: dict[str, Sent], aws: FakeAWS,
        caplog: pytest.LogCaptureFixture) -> None:
    body = ses_bounce(sent["taro"], "Permanent", "5.1.1", "smtp; 550 5.1.1 user unknown")
    forged = sns_message(aws, "Notification", Message=body)
    forged["Message"] = body.replace("taro", "hanako")  # changed after AWS signed it: 401
    foreign = sns_message(aws, "Notification", Message=body, TopicArn=TOPIC.replace("123456789012", "999999999999"))
    elsewhere = sns_message(aws, "Notification", Message=body)  # a certificate from a host SNS does not use: 401
    elsewhere["SigningCertURL"] = "https://127.0.0.1:1/evil.pem"
    plain_http = sns_message(aws, "Notification", Message=body)
    plain_http["SigningCertURL"] = plain_http["SigningCertURL"].replace("https://", "http://")
    unsigned = {key: value for key, value in forged.items() if key != "Signature"}  # raw delivery: 401
    for message in (forged, foreign, elsewhere, plain_http, unsigned):
        response = post_sns(client, message)
        assert response.status_code == 401, message
        assert response.get_json() == {"message": "The webhook call could not be authenticated."}
    assert "the signature does not match the message" in caplog.text
    assert "is not in KAIRAN_SES_TOPIC_ARNS" in caplog.text and "is not an https URL of Amazon SNS" in caplog.text
    # Not JSON: 400 with the reason.
    response = client.post("/webhooks/service/ses", data=b"{not json", content_type="text/plain")
    assert response.status_code == 400 and response.get_json() == {"message": "The request body is not JSON."}
    assert bounces(sns_app) == [] and suppressed(sns_app) == {}
    assert "/evil.pem" not in aws.requests


SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "bounces" / "webhooks"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the shared webhook samples are not at {SAMPLES}")
def test_real_ses_notifications_record_what_they_report(sns_app: Flask, client: FlaskClient, aws: FakeAWS) -> None:
    """SES's own notifications (sisimai's samples), posted as SNS would, signed by the stand-in."""
    for path in sorted(SAMPLES.glob("json-amazonses-*.json")):
        notice = json.loads(path.read_text())
        body = notice["Message"] if "TopicArn" in notice else json.dumps(notice)  # -02 is the whole SNS message
        assert post_sns(client, sns_message(aws, "Notification", Message=body)).status_code == 200, path.name
    # Three 5.1.1 bounces of SES's simulator address (no delivery of ours: by the address alone), one complaint;
    # the two delivery notifications record nothing.
    hard = ("bounce@simulator.amazonses.com", "hard", "ses", None, False)
    assert bounces(sns_app) == [hard, hard, ("complaint@simulator.amazonses.com", "complaint", "ses", None, False),
                                hard]
    assert suppressed(sns_app) == {"bounce@simulator.amazonses.com": "hard_bounce",
                                   "complaint@simulator.amazonses.com": "complaint"}


def test_production_trusts_only_amazon_hosts_over_https(app: Flask) -> None:
    from tracking import sns
    with app.test_request_context():
        rules = sns.trust()
    for url in ("https://sns.ap-northeast-1.amazonaws.com/SimpleNotificationService-abc.pem",
                "https://sns.cn-north-1.amazonaws.com.cn/x.pem"):
        host = url.split("/")[2]
        assert rules.hosts.fullmatch(host) and rules.ca_file is None
    for host in ("sns.ap-northeast-1.amazonaws.com.evil.jp", "evil.jp", "sns.ap-northeast-1.amazonaws.com:8443",
                 "s3.amazonaws.com", "localhost"):
        assert not rules.hosts.fullmatch(host), host
        with pytest.raises(sns.SNSError, match="not an https URL"):
            sns.fetch(f"https://{host}/cert.pem", rules)


# --- SendGrid ------------------------------------------------------------------------------------------------

def sendgrid_post(client: FlaskClient, events: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey = SENDGRID_KEY,
                  timestamp: int | None = None) -> Any:
    body = json.dumps(events).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return client.post("/webhooks/service/sendgrid", data=body, content_type="application/json", headers={
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp})


def test_sendgrid_signed_events_are_recorded_by_the_message_id_they_return(
        app: Flask, client: FlaskClient, sent: dict[str, Sent]) -> None:
    taro, hanako, jiro = sent["taro"], sent["hanako"], sent["jiro"]
    now = int(time.time())
    events = [
        {"email": taro.email, "timestamp": now, "smtp-id": taro.message_id, "event": "bounce", "type": "bounce",
         "status": "5.1.1", "reason": "550 5.1.1 The email account that you tried to reach does not exist",
         "sg_event_id": "ev-1", "sg_message_id": "sg.1"},
        {"email": hanako.email, "timestamp": now, "smtp-id": hanako.message_id, "event": "bounce", "type": "blocked",
         "status": "5.7.26", "reason": "550 5.7.26 Unauthenticated email is not accepted due to DMARC policy",
         "sg_event_id": "ev-2"},
        {"email": jiro.email, "timestamp": now, "smtp-id": jiro.message_id, "event": "spamreport",
         "sg_event_id": "ev-3"},
        {"email": jiro.email, "timestamp": now, "event": "delivered", "sg_event_id": "ev-4"},  # not a bounce
    ]
    response = sendgrid_post(client, events)
    assert response.status_code == 200 and response.get_json() == {"data": True}
    assert bounces(app) == [("taro@example.jp", "hard", "sendgrid", taro.delivery_id, False),
                            ("hanako@example.jp", "soft", "sendgrid", hanako.delivery_id, True),
                            ("jiro@example.jp", "complaint", "sendgrid", jiro.delivery_id, False)]
    # The DMARC refusal is about us, not hanako: she stays mailable, and the campaign says why.
    assert suppressed(app) == {"taro@example.jp": "hard_bounce", "jiro@example.jp": "complaint"}
    with app.app_context():
        assert "5.7.26" in (db.session.get(Campaign, taro.campaign_id).notice or "")  # type: ignore[union-attr]
    # SendGrid retries a whole batch when it got no 2xx: events already recorded are not recorded again.
    assert sendgrid_post(client, events).status_code == 200 and len(bounces(app)) == 3


def test_sendgrid_refuses_forged_signatures_and_old_timestamps(app: Flask, client: FlaskClient,
                                                               sent: dict[str, Sent]) -> None:
    event = [{"email": sent["taro"].email, "event": "bounce", "status": "5.1.1", "reason": "550 5.1.1 unknown",
              "sg_event_id": "ev-9"}]
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert sendgrid_post(client, event, key=other_key).status_code == 401  # signed by someone else
    assert sendgrid_post(client, event, timestamp=int(time.time()) - 3600).status_code == 401  # an hour old: a replay
    tampered = client.post("/webhooks/service/sendgrid", data=b"[]", content_type="application/json", headers={
        "X-Twilio-Email-Event-Webhook-Signature": "bm90IGEgc2lnbmF0dXJl",
        "X-Twilio-Email-Event-Webhook-Timestamp": str(int(time.time()))})
    assert tampered.status_code == 401
    assert bounces(app) == [] and suppressed(app) == {}
    # A signed body that is not an array of events: 400 with the reason, nothing recorded.
    response = sendgrid_post(client, {"event": "bounce"})  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.get_json() == {"message": "SendGrid posts a JSON array of events."}


# --- Postmark ------------------------------------------------------------------------------------------------

def postmark_post(client: FlaskClient, payload: dict[str, Any], credentials: tuple[str, str] = POSTMARK) -> Any:
    auth = base64.b64encode(":".join(credentials).encode()).decode()
    return client.post("/webhooks/service/postmark", json=payload, headers={"Authorization": f"Basic {auth}"})


def test_postmark_bounces_and_complaints_with_its_password(app: Flask, client: FlaskClient,
                                                           sent: dict[str, Sent]) -> None:
    taro, hanako = sent["taro"], sent["hanako"]
    # With "include bounce content" on, the bounce itself returns our Message-ID: tied to taro's delivery.
    content = (f"From: MAILER-DAEMON@mx.example.jp\r\nTo: pm_bounces@pm.mtasv.net\r\nSubject: Undelivered Mail\r\n"
               f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b1\r\n\r\n"
               f"--b1\r\nContent-Type: text/plain\r\n\r\n<{taro.email}>: host mx.example.jp said: 550 5.1.1 "
               f"<{taro.email}>: Recipient address rejected: User unknown\r\n"
               f"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.jp\r\n\r\n"
               f"Final-Recipient: rfc822; {taro.email}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
               f"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {taro.message_id}\r\nSubject: x\r\n"
               f"--b1--\r\n")
    hard = {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": "HardBounce", "TypeCode": 1,
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Email": taro.email,
            "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.", "Content": content}
    assert postmark_post(client, hard).status_code == 200
    complaint = {"RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint", "Email": hanako.email}
    assert postmark_post(client, complaint).status_code == 200
    auto_reply = {"RecordType": "Bounce", "ID": 43, "Type": "AutoResponder", "Email": sent["jiro"].email}
    assert postmark_post(client, auto_reply).status_code == 200  # answered, not a bounce
    assert bounces(app) == [("taro@example.jp", "hard", "postmark", taro.delivery_id, False),
                            ("hanako@example.jp", "complaint", "postmark", None, False)]
    assert suppressed(app) == {"taro@example.jp": "hard_bounce", "hanako@example.jp": "complaint"}


def test_postmark_refuses_a_wrong_or_missing_password_and_too_many_tries(app: Flask, client: FlaskClient) -> None:
    payload = {"RecordType": "SpamComplaint", "ID": 1, "Email": "taro@example.jp"}
    assert postmark_post(client, payload, (POSTMARK[0], "a wrong password here")).status_code == 401
    assert postmark_post(client, payload, ("someone", POSTMARK[1])).status_code == 401
    assert client.post("/webhooks/service/postmark", json=payload).status_code == 401
    assert bounces(app) == [] and suppressed(app) == {}
    # Guessing is slowed down: 20 refusals a minute from one address, then 429 (even with the right password).
    for _ in range(17):
        postmark_post(client, payload, (POSTMARK[0], "guess"))
    assert postmark_post(client, payload, (POSTMARK[0], "guess")).status_code == 429
    assert postmark_post(client, payload).status_code == 429


# --- Mailgun -------------------------------------------------------------------------------------------------

def mailgun_payload(event_data: dict[str, Any], token: str | None = None, timestamp: int | None = None,
                    key: str = MAILGUN_KEY) -> dict[str, Any]:
    stamp, token = str(int(time.time()) if timestamp is None else timestamp), token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": stamp, "token": token, "signature": signature}, "event-data": event_data}


def mailgun_failed(reader: Sent, severity: str, code: int, message: str) -> dict[str, Any]:
    return {"event": "failed", "id": secrets.token_hex(6), "severity": severity, "reason": "bounce",
            "recipient": reader.email, "envelope": {"sender": reader.return_path, "targets": reader.email},
            "delivery-status": {"code": code, "message": message, "description": ""},
            "message": {"headers": {"message-id": reader.message_id.strip("<>"), "to": reader.email}}}


def test_mailgun_permanent_failures_and_complaints_are_recorded_once_per_token(
        app: Flask, client: FlaskClient, sent: dict[str, Sent]) -> None:
    taro, hanako, jiro = sent["taro"], sent["hanako"], sent["jiro"]
    permanent = mailgun_payload(mailgun_failed(taro, "permanent", 550, "5.1.1 The email account does not exist"))
    assert client.post("/webhooks/service/mailgun", json=permanent).status_code == 200
    temporary = mailgun_payload(mailgun_failed(hanako, "temporary", 452, "4.2.2 The email account is over quota"))
    assert client.post("/webhooks/service/mailgun", json=temporary).status_code == 200
    complained = mailgun_payload({"event": "complained", "id": "c1", "recipient": jiro.email,
                                  "message": {"headers": {"message-id": jiro.message_id.strip("<>")}}})
    assert client.post("/webhooks/service/mailgun", json=complained).status_code == 200
    # Mailgun still retries after a temporary failure: a delay warning, not a bounce.
    assert bounces(app) == [("taro@example.jp", "hard", "mailgun", taro.delivery_id, False),
                            ("jiro@example.jp", "complaint", "mailgun", jiro.delivery_id, False)]
    assert suppressed(app) == {"taro@example.jp": "hard_bounce", "jiro@example.jp": "complaint"}

    # The same signed post again (its token seen before) is a replay: 401, nothing more recorded.
    replay = client.post("/webhooks/service/mailgun", json=permanent)
    assert replay.status_code == 401
    assert replay.get_json() == {"message": "The webhook call could not be authenticated."}
    assert len(bounces(app)) == 2


def test_mailgun_refuses_forged_old_and_unsigned_posts(app: Flask, client: FlaskClient, sent: dict[str, Sent],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    event = mailgun_failed(sent["taro"], "permanent", 550, "5.1.1 The email account does not exist")
    forged = mailgun_payload(event, key="key-someone-elses-signing-key")
    old = mailgun_payload(event, timestamp=int(time.time()) - 3600)
    for payload in (forged, old):
        assert client.post("/webhooks/service/mailgun", json=payload).status_code == 401
    assert "the signature does not match" in caplog.text and "more than 600 s from now" in caplog.text
    response = client.post("/webhooks/service/mailgun", json={"event-data": event})
    assert response.status_code == 400
    assert "no signature object" in response.get_json()["message"]
    assert bounces(app) == [] and suppressed(app) == {}


# --- listmonk's generic webhook ------------------------------------------------------------------------------

def test_listmonk_bounce_webhook_takes_api_credentials_and_ties_a_named_campaign(
        app: Flask, client: FlaskClient, sent: dict[str, Sent]) -> None:
    editor = {"Authorization": f"token {api_user(app, 'editor', 'crm')}"}
    taro = sent["taro"]
    with app.app_context():
        campaign_uuid = db.session.get(Campaign, taro.campaign_id).uuid  # type: ignore[union-attr]
        hanako_uuid = db.session.scalars(select(Subscriber.uuid).where(Subscriber.email == "hanako@example.jp")).one()
    response = client.post("/webhooks/bounce", headers=editor, json={
        "email": "Taro@Example.jp", "campaign_uuid": campaign_uuid, "type": "hard", "source": "crm",
        "meta": {"ticket": 7}})
    assert response.status_code == 200 and response.get_json() == {"data": True}
    # Soft bounces suppress once KAIRAN_SOFT_BOUNCES (3) arrived within KAIRAN_SOFT_BOUNCE_DAYS.
    for count in (1, 2, 3):
        assert client.post("/webhooks/bounce", headers=editor, json={
            "subscriber_uuid": hanako_uuid, "type": "soft"}).status_code == 200
        assert ("hanako@example.jp" in suppressed(app)) is (count == 3)
    assert bounces(app)[0] == ("taro@example.jp", "hard", "crm", taro.delivery_id, False)
    assert bounces(app)[1:] == [("hanako@example.jp", "soft", "api", None, False)] * 3
    with app.app_context():
        assert db.session.scalars(select(Bounce.meta)).first()["ticket"] == 7  # type: ignore[index]

    # Bad input: 400 with the reason; no credentials or a viewer's: 403. Nothing more is recorded.
    for body, message in (
            ({"email": "jiro@example.jp", "type": "bounced"}, "type must be one of: hard, soft, complaint."),
            ({"type": "hard"}, "Name the recipient with email or subscriber_uuid."),
            ({"email": "jiro@example.jp", "type": "hard", "campaign_uuid": "nope"}, "No campaign has the uuid nope."),
            ({"subscriber_uuid": "nope", "type": "hard"}, "No subscriber has the uuid nope."),
            ({"email": "jiro@example.jp", "type": "hard", "meta": [1]}, "meta must be a JSON object.")):
        response = client.post("/webhooks/bounce", headers=editor, json=body)
        assert (response.status_code, response.get_json()) == (400, {"message": message})
    assert client.post("/webhooks/bounce", json={"email": "jiro@example.jp", "type": "hard"}).status_code == 403
    viewer = {"Authorization": f"token {api_user(app, 'viewer', 'reader')}"}
    assert client.post("/webhooks/bounce", headers=viewer, json={"email": "jiro@example.jp",
                                                                 "type": "hard"}).status_code == 403
    assert len(bounces(app)) == 4 and "jiro@example.jp" not in suppressed(app)


# --- Settings ------------------------------------------------------------------------------------------------

def test_each_provider_is_off_until_its_settings_are_set(settings_env: dict[str, str]) -> None:
    bare = create_app({**{k: v for k, v in settings_env.items() if "WEBHOOK" not in k and "SIGNING" not in k
                          and "TOPIC" not in k}, "TESTING": True})
    client = bare.test_client()
    for provider, variable in (("ses", "KAIRAN_SES_TOPIC_ARNS"), ("sendgrid", "KAIRAN_SENDGRID_WEBHOOK_KEY"),
                               ("postmark", "KAIRAN_POSTMARK_WEBHOOK_USER"), ("mailgun", "KAIRAN_MAILGUN_SIGNING_KEY")):
        response = client.post(f"/webhooks/service/{provider}", json={})
        assert response.status_code == 404, provider
        assert variable in response.get_json()["message"]


@pytest.mark.parametrize(("env", "names"), [
    ({"KAIRAN_SES_TOPIC_ARNS": "ses-bounces"}, "KAIRAN_SES_TOPIC_ARNS"),
    ({"KAIRAN_SENDGRID_WEBHOOK_KEY": "bm90IGEga2V5"}, "KAIRAN_SENDGRID_WEBHOOK_KEY"),
    ({"KAIRAN_POSTMARK_WEBHOOK_USER": "pm"}, "KAIRAN_POSTMARK_WEBHOOK_USER and KAIRAN_POSTMARK_WEBHOOK_PASSWORD"),
    ({"KAIRAN_POSTMARK_WEBHOOK_USER": "pm", "KAIRAN_POSTMARK_WEBHOOK_PASSWORD": "short"},
     "KAIRAN_POSTMARK_WEBHOOK_PASSWORD must be at least 16"),
    ({"KAIRAN_MAILGUN_SIGNING_KEY": "abc"}, "KAIRAN_MAILGUN_SIGNING_KEY"),
])
def test_bad_webhook_settings_stop_start_up_naming_the_variable(tmp_path: Path, env: dict[str, str],
                                                                names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings({"KAIRAN_DATA_DIR": str(tmp_path), **env})


def test_the_sendgrid_key_is_read_as_sendgrid_shows_it_or_as_pem(tmp_path: Path) -> None:
    public = SENDGRID_KEY.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    settings = load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_SENDGRID_WEBHOOK_KEY": pem})
    key = WEBHOOKS.of(settings).sendgrid_key
    assert key is not None and key.public_numbers() == public.public_numbers()
