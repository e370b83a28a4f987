"""What the lists' tests share: lists and subscribers made through the models or the API."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from core.db import db
from lists.models import MailingList
from tests.helpers import csrf_token


def make_list(app: Flask, name: str = "news") -> int:
    with app.app_context():
        mailing_list = MailingList(name=name, description="", tags=[])
        db.session.add(mailing_list)
        db.session.commit()
        return mailing_list.id


def make_subscriber(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/subscribers", json=body, headers=headers)


# What Excel on a Japanese PC saves: CP932, CRLF, with everything the issue names.
EXCEL_CSV = (
    "メールアドレス,氏名,都道府県,会員番号\r\n"
    "ｙａｍａｄａ＠example.jp,山田太郎,大阪,１２３\r\n"  # full-width address and digits
    "taro..x.@docomo.ne.jp,鈴木太郎,東京,124\r\n"  # docomo's legacy form: kept
    '"evil@example.jp\r\nBcc: victim@example.com",悪意,x,1\r\n'  # header injection: refused
    "not-an-address,名無し,京都,2\r\n"  # not an address: refused
    "too,few\r\n"  # broken row: refused
    "\r\n"  # blank line: skipped
    "Yamada@Example.jp,山田 太郎,大阪府,125\r\n"  # the same person again: merged, later values win
    "hanako@ezweb.ne.jp,佐藤花子,北海道,126\r\n"
)


def upload_via_ui(client: FlaskClient, content: bytes, name: str = "会員.csv") -> str:
    token = csrf_token(client, "/subscribers/import/")
    response = client.post("/subscribers/import/", data={"csrf_token": token, "file": (io.BytesIO(content), name)},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"])


def start_via_ui(client: FlaskClient, preview_url: str, **options: Any) -> Any:
    page = client.get(preview_url).get_data(as_text=True)
    columns = int(re.search(r'name="columns" value="(\d+)"', page).group(1))  # type: ignore[union-attr]
    form: dict[str, Any] = {"csrf_token": csrf_token(client, preview_url), "columns": str(columns),
                            "encoding": re.search(r'name="encoding" value="([^"]+)"', page).group(1),  # type: ignore[union-attr]
                            "delimiter": ","}
    for i in range(columns):
        target = re.search(rf'name="col-{i}-target".*?<option value="(\w+)" selected', page, re.S)
        form[f"col-{i}-target"] = target.group(1) if target else "ignore"
        form[f"col-{i}-key"] = re.search(rf'name="col-{i}-key" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
        form[f"col-{i}-type"] = "text"
    form.update(options)
    return client.post(preview_url + "/start", data=form)
