"""What the mailer's tests share: campaigns and audiences made through the API or the models, relays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import dkim
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from flask import Flask
from flask.testing import FlaskClient

from core.db import db, utcnow
from lists.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer import sending
from mailer.layouts import default_template
from mailer.models import Campaign, CampaignStatus, ContentType, Delivery, DeliveryStatus

ROOT = Path(__file__).resolve().parents[2]


def create(client: FlaskClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    fields = {"name": "11月号", "subject": "{{ subscriber.name }}様へ 11月のお知らせ", "content_type": "html", **fields}
    response = client.post("/api/campaigns", json=fields, headers=headers)
    assert response.status_code == 200, response.json
    return dict(response.get_json()["data"])


def audience(client: FlaskClient, headers: dict[str, str]) -> list[int]:
    """Two overlapping lists with people who must not be mailed on them; return the list ids."""
    first = client.post("/api/lists", headers=headers, json={"name": "お知らせ"}).get_json()["data"]["id"]
    second = client.post("/api/lists", headers=headers, json={"name": "セール"}).get_json()["data"]["id"]
    people = [("山田 太郎", "taro..yamada.@docomo.ne.jp", [first, second], "enabled"),
              ("佐藤 花子", "hanako@example.jp", [second], "enabled"),
              ("悪い 人", "bad@example.jp", [first], "blocklisted")]
    for name, address, lists, status in people:
        client.post("/api/subscribers", headers=headers, json={"email": address, "name": name, "lists": lists,
                                                               "status": status, "preconfirm_subscriptions": True})
    return [first, second]


def running_campaign(app: Flask, sent: int, unsent: dict[str, int], seconds: float) -> int:
    """A campaign running for ``seconds`` that sent ``sent`` messages; ``unsent`` counts its queue per domain."""
    with app.app_context():
        campaign = Campaign(name="11月号", subject="お知らせ", body="<p>こんにちは</p>", status=CampaignStatus.RUNNING,
                            lists=[], tags=[], headers=[], started_at=utcnow() - timedelta(seconds=seconds),
                            to_send=sent + sum(unsent.values()))
        db.session.add(campaign)
        db.session.flush()
        db.session.add_all(Delivery(campaign_id=campaign.id, domain="example.jp", status=DeliveryStatus.SENT)
                           for _ in range(sent))
        db.session.add_all(Delivery(campaign_id=campaign.id, domain=domain, status=DeliveryStatus.QUEUED)
                           for domain, count in unsent.items() for _ in range(count))
        db.session.commit()
        return campaign.id


def seed(addresses: list[str]) -> int:
    """A single opt-in list with these subscribers, in this order; return its id."""
    mailing_list = MailingList(name="お知らせ")
    db.session.add(mailing_list)
    db.session.flush()
    for address in addresses:
        subscriber = Subscriber(email=address, email_key=address.lower(), name=address.split("@")[0], attribs={})
        db.session.add(subscriber)
        db.session.flush()
        db.session.add(Subscription(subscriber_id=subscriber.id, list_id=mailing_list.id,
                                    status=SubscriptionStatus.CONFIRMED))
    db.session.commit()
    return mailing_list.id


def start_campaign(list_id: int, **fields: object) -> int:
    campaign = Campaign(name="11月号", subject="お知らせ", content_type=ContentType.PLAIN,
                        body="{{ subscriber.name }}様", lists=[list_id], from_email="news@kairan.example",
                        template=default_template(), **fields)  # the layout's footer: the law's details
    db.session.add(campaign)
    db.session.commit()
    sending.change_status(campaign, "running")
    return campaign.id


def verified(raw: bytes, dns: object) -> list[bool]:
    """Verify each DKIM-Signature on its own, as a receiver does (a bad body hash raises in dkimpy)."""
    results = []
    for index in range(raw.count(b"DKIM-Signature:")):
        try:
            results.append(bool(dkim.DKIM(raw).verify(idx=index, dnsfunc=dns)))
        except dkim.DKIMException:
            results.append(False)
    return results


USER, SECRET = "kairan", "s3cret pass"


@dataclass
class Received:
    """An aiosmtpd handler that keeps who each message was for."""

    rcpt_tos: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.rcpt_tos.extend(envelope.rcpt_tos)
        return "250 OK"


def check_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), SECRET.encode())
    return AuthResult(success=ok, handled=False)


class Workers:
    """Real ``flask worker`` processes, each in its own process group (its scheduler process is in it), each
    logging to ``worker-N.log`` in the folder; with ``own_data_folders`` each is a host with a data folder of its
    own (``host-N``), sharing only the database and Redis."""

    def __init__(self, env: dict[str, str], folder: Path, *, own_data_folders: bool = False) -> None:
        self.env = {**os.environ, **env}
        self.folder = folder
        self.own_data_folders = own_data_folders
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *options: str, **settings: str) -> subprocess.Popen[bytes]:
        """A worker with ``flask worker``'s options and these settings over the pool's."""
        index = len(self.processes)
        if self.own_data_folders:
            data = self.folder / f"host-{index}"
            data.mkdir()
            settings = {"KAIRAN_DATA_DIR": str(data), **settings}
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", *options],
                                   cwd=ROOT, env={**self.env, **settings},
                                   stdout=self.log_path(index).open("wb"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def log_path(self, index: int) -> Path:
        return self.folder / f"worker-{index}.log"

    def log(self, process: subprocess.Popen[bytes]) -> str:
        return self.log_path(self.processes.index(process)).read_text(errors="replace")

    def tails(self, characters: int = 3000) -> str:
        """The end of every worker's log, for a failing test's message."""
        return "\n".join(self.log(process)[-characters:] for process in self.processes)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """As a host dying: the worker and its scheduler process at once, neither able to let go of a lock."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)
