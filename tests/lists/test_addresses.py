"""Address rules: what each kind of input becomes, or why it is refused."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from lists.addresses import InvalidAddressError, address_key, is_legacy_carrier_address, normalise_email
from tests.helpers import api_user


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Taro.Yamada@Example.COM", "Taro.Yamada@example.com"),  # local part's case kept, domain lowered
        ("ｔａｒｏ１２＠ｅｘａｍｐｌｅ．ｊｐ", "taro12@example.jp"),  # full-width input from Japanese IMEs
        ("\u3000 hanako@example.jp \u3000", "hanako@example.jp"),  # ideographic spaces trimmed
        ("taro..x.@docomo.ne.jp", "taro..x.@docomo.ne.jp"),  # carrier legacy forms kept as they are
        (".hanako@ezweb.ne.jp", ".hanako@ezweb.ne.jp"),
        ("a..b@i.softbank.jp", "a..b@i.softbank.jp"),
        ("user@日本語.jp", "user@日本語.jp"),  # IDN domains accepted
    ],
)
def test_accepted_addresses(given: str, stored: str) -> None:
    assert normalise_email(given) == stored


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("a@b.jp\r\nBcc: victim@example.com", "An address may not contain line breaks or control characters."),
        ("a@b.jp\x00", "An address may not contain line breaks or control characters."),
        ("", "The address is empty."),
        ("   ", "The address is empty."),
        ("taro.example.jp", "taro.example.jp has no @ with text on both sides."),
        ("taro@", "taro@ has no @ with text on both sides."),
        ("a..b@gmail.com", "a..b@gmail.com is not a valid address"),  # legacy forms only on carrier domains
        ("taro@exa_mple.jp", "taro@exa_mple.jp is not a valid address"),
        ("x" * 250 + "@example.jp", "The address is longer than 254 characters."),
    ],
)
def test_refused_addresses_say_why(given: str, reason: str) -> None:
    with pytest.raises(InvalidAddressError) as caught:
        normalise_email(given)
    assert caught.value.message.startswith(reason)


def test_addresses_compare_case_insensitively_and_legacy_ones_are_marked() -> None:
    assert address_key("Taro@Example.jp") == address_key("taro@example.jp")
    assert is_legacy_carrier_address("taro..x.@docomo.ne.jp")
    assert not is_legacy_carrier_address("taro.x@docomo.ne.jp")


@pytest.mark.parametrize(
    "address",
    [
        "Taro.Yamada@Example.CO.JP", "a+tag@example.com", "o'brien@example.ie", "x@sub-domain.example.jp",
        "a@b.test", "a@example.local", "a@example.123", "a@-bad.example.com", "a@bad-.example.com",
        "a" * 64 + "@example.com", "a" * 65 + "@example.com", "a.@example.com", ".a@example.com",
        "a@" + "b" * 64 + ".com", "a@" + ".".join(["b" * 60] * 5) + ".com", "a@example.c",
    ],
)
def test_fast_path_agrees_with_email_validator(address: str) -> None:
    """The regex shortcut must give exactly email-validator's answer."""
    assert _ours(address) == _validators(address)


# Pieces of ASCII addresses near the edges of the shortcut's pattern, combined every way below.
LOCAL_PARTS = ["a", "Taro.Yamada", "a+tag", "o'brien", "a.b.c", "a..b", ".a", "a.", "x" * 64, "x" * 65, "a b",
               '"a b"', "a(b)", "a,b", "a;b", "a\\b", "a[b]", "a<b>", "a:b", "a@b", "!#$%&*/=?^_`{|}~-", "-"]
DOMAINS = ["example.com", "EXAMPLE.JP", "sub-domain.example.jp", "-bad.example.com", "bad-.example.com",
           "example.c", "example.123", "example.co1", "a.test", "a.local", "a.localhost", "a.invalid", "a.onion",
           "example.arpa", "a_b.example.jp", "example..com", ".example.com", "example.com.", "[127.0.0.1]",
           "localhost", "b" * 63 + ".com", "b" * 64 + ".com", ".".join(["b" * 60] * 4) + ".com", "ex ample.com",
           "1.2.3.4", "example.x-y",
           # IDNA: punycode is stored decoded (one subscriber whichever form is typed); "ab--" labels are refused.
           "xn--wgv71a119e.jp", "XN--wgv71a119e.jp", "xn--bad.jp", "ab--cd.com", "sub--domain.jp", "a.xn--p1ai"]


def test_fast_path_agrees_with_email_validator_over_every_combination() -> None:
    """Every mix of the pieces gets exactly email-validator's verdict and stored form (the shortcut included)."""
    disagreements = [(address, _ours(address), _validators(address))
                     for address in (f"{local}@{domain}" for local in LOCAL_PARTS for domain in DOMAINS)
                     if _ours(address) != _validators(address)]
    assert disagreements == []


def _validators(address: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    return f"{result.local_part}@{result.domain}"


def _ours(address: str) -> str | None:
    try:
        return normalise_email(address)
    except InvalidAddressError:
        return None


INVALID = " は有効なメールアドレスではありません"


@pytest.mark.parametrize(
    ("given", "japanese"),
    [
        ("a..b@gmail.com", "a..b@gmail.com" + INVALID + "（ピリオドが 2 つ続いています）。"),
        ("taro@exa_mple.jp", "taro@exa_mple.jp" + INVALID + "（@ より後ろに使えない文字があります: '_'）。"),
        ("taro@example", "taro@example" + INVALID  # no brackets inside the brackets
         + "（@ より後ろは example.jp のようにピリオドを含む必要があります）。"),
    ],
)
def test_email_validators_reasons_are_said_in_the_readers_language(app: Flask, client: FlaskClient, given: str,
                                                                   japanese: str) -> None:
    """email-validator words its reasons in English only; a Japanese reader gets them in Japanese."""
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}", "Accept-Language": "ja"}
    response = client.post("/api/subscribers", headers=headers, json={"email": given, "name": "山田"})
    assert response.status_code == 400
    assert response.get_json()["message"] == japanese
    with app.test_request_context(headers={"Accept-Language": "en"}), pytest.raises(InvalidAddressError) as caught:
        normalise_email(given)
    assert "有効" not in caught.value.message  # English readers keep email-validator's own words
