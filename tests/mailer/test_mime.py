"""Hand-built messages: what mail software reads back, line lengths, and DKIM that dkimpy verifies."""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import UTC, datetime
from functools import cache

import dkim
import pytest

from mailer.mime import base64_lines, build, mailbox
from mailer.signing import SIGNED_HEADERS, DKIMSigner, dns_record, new_key_pem
from tests.mailer.helpers import verified

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
LONG_HTML = "<p>" + "長い行。" * 800 + "</p>"  # 9.6 KB on one line: docomo refuses lines over 998 bytes


@cache
def key() -> bytes:
    return new_key_pem()


def message(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "from_": mailbox("回覧商事", "news@kairan.example"), "to": mailbox("山田 太郎", "taro..yamada.@docomo.ne.jp"),
        "subject": "山田様へ 11月のお知らせ ①", "text": "山田様\n本文です。\n", "html": LONG_HTML,
        "message_id": "<1.2@kairan.example>", "date": NOW,
        "extra": [(b"List-Unsubscribe", b"<https://kairan.example/u/t>"),
                  (b"List-Unsubscribe-Post", b"List-Unsubscribe=One-Click"),
                  (b"List-Id", b"<news.kairan.example>"), (b"Feedback-ID", b"1:2:kairan:news")],
        "signer": DKIMSigner("kairan.example", "k1", key()),
    }
    return build(**{**fields, **changes}).as_bytes()  # type: ignore[arg-type]


def test_mail_software_reads_back_what_was_built() -> None:
    raw = message()
    assert b'<"taro..yamada."@docomo.ne.jp>' in raw  # the legacy carrier form goes out quoted
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "山田様へ 11月のお知らせ ①"
    assert parsed["To"].addresses[0].username == "taro..yamada."
    assert parsed["To"].addresses[0].display_name == "山田 太郎"
    text, html = (part.get_content() for part in parsed.iter_parts())
    assert text == "山田様\r\n本文です。\r\n" and html == LONG_HTML  # text in its canonical CRLF form


@pytest.mark.parametrize("charset", ["utf-8", "iso-2022-jp"])
@pytest.mark.parametrize("subject", ["山田様へ 11月のお知らせ", "山田様へ、今月のお知らせです。" * 6],
                         ids=["short-subject", "subject-folded-over-lines"])
def test_no_line_is_longer_than_998_bytes_and_all_end_in_crlf(subject: str, charset: str) -> None:
    raw = message(subject=subject, charset=charset)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == subject
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


@pytest.mark.parametrize("charset", ["utf-8", "iso-2022-jp"])
def test_dkim_verifies_with_the_headers_the_rules_name(charset: str) -> None:
    text = "本文です。\r\n"
    raw = message(charset=charset, subject="お知らせ", text=text, html="<p>本文です。</p>")
    record = dns_record(key()).encode()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"k1._domainkey.kairan.example."
        return record

    assert dkim.verify(raw, dnsfunc=dns)
    signature = raw.split(b"\r\n", 1)[0]
    signed = signature.split(b"h=", 1)[1].split(b";", 1)[0].split(b":")
    assert signed[:2] == [b"from", b"from"]  # oversigned
    assert {b"list-unsubscribe", b"list-unsubscribe-post", b"list-id", b"feedback-id"} <= set(signed)
    assert b" l=" not in signature
    tampered = raw.replace(b"Subject: ", b"Subject: Re: ")
    assert not dkim.verify(tampered, dnsfunc=dns)


def key_record(name: bytes, timeout: int = 5) -> bytes:
    assert name == b"k1._domainkey.kairan.example."
    return dns_record(key()).encode()


@pytest.mark.parametrize("name", SIGNED_HEADERS)
def test_a_signed_header_added_anywhere_breaks_the_signature(name: str) -> None:
    """Oversigning: a second Subject or List-Unsubscribe, or a Reply-To the message lacked, never verifies."""
    raw = message(subject="お知らせ", text="本文です。\r\n", html="<p>本文です。</p>")
    assert dkim.verify(raw, dnsfunc=key_record)  # untouched, it verifies
    added = "-".join(part.capitalize() for part in name.split("-")).encode() + b": <https://evil.example/x>\r\n"
    headers, body = raw.split(b"\r\n\r\n", 1)
    assert not dkim.verify(added + raw, dnsfunc=key_record)  # on top, above the signature
    assert not dkim.verify(headers + b"\r\n" + added + b"\r\n" + body, dnsfunc=key_record)  # below the others


@cache
def ed25519_key() -> bytes:
    return new_key_pem("ed25519")


@pytest.mark.parametrize("charset", ["utf-8", "iso-2022-jp"])
def test_an_ed25519_second_signature_verifies_beside_the_rsa_one(charset: str) -> None:
    raw = message(charset=charset, subject="お知らせ", text="本文です。\r\n", html="<p>本文です。</p>",
                  signer=DKIMSigner("kairan.example", "k1", key(), ("k1-ed", ed25519_key())))
    records = {b"k1._domainkey.kairan.example.": dns_record(key()).encode(),
               b"k1-ed._domainkey.kairan.example.": dns_record(ed25519_key()).encode()}

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return records[name]

    first, second = raw.split(b"\r\n")[:2]
    assert b"a=rsa-sha256" in first and b"s=k1;" in first  # RSA on top: what every receiver verifies
    assert b"a=ed25519-sha256" in second and b"s=k1-ed;" in second
    assert records[b"k1-ed._domainkey.kairan.example."].startswith(b"v=DKIM1; k=ed25519; p=")
    assert verified(raw, dns) == [True, True]
    assert verified(raw.replace(b"Subject: ", b"Subject: Re: "), dns) == [False, False]
    assert verified(raw[:-40] + raw[-40:].replace(b"--", b"-x", 1), dns) == [False, False]  # the body


def test_keys_of_the_wrong_kind_are_refused() -> None:
    with pytest.raises(ValueError, match="RSA"):
        DKIMSigner("kairan.example", "k1", ed25519_key())
    with pytest.raises(ValueError, match="Ed25519"):
        DKIMSigner("kairan.example", "k1", key(), ("k2", key()))
    with pytest.raises(ValueError, match="Unknown DKIM key type"):
        new_key_pem("dsa")


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 30_000])
def test_base64_parts_are_the_standard_76_column_lines_with_crlf(size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    assert base64_lines(data[:size]) == base64.encodebytes(data[:size]).replace(b"\n", b"\r\n")
