"""The suite runs the same whatever Kairan settings the caller's shell exports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A developer's own installation, exported in the shell that runs make test: each would change what the
# tests below see (the data folder, links' host, the relay mail goes to, times, the sender's name).
CALLERS_SETTINGS = {
    "KAIRAN_DATA_DIR": "/nonexistent/kairan",
    "KAIRAN_BASE_URL": "https://news.example.jp",
    "KAIRAN_SMTP_URL": "smtp://127.0.0.1:9",
    "KAIRAN_TIMEZONE": "America/New_York",
    "KAIRAN_COMPANY_NAME": "よその会社",
    "KAIRAN_MAIL_FROM": "news@example.jp",
}


def test_the_callers_kairan_settings_do_not_reach_the_tests(tmp_path: Path) -> None:
    env = {**{key: value for key, value in os.environ.items() if key != "KAIRAN_TEST_DATABASE_URL"},
           **CALLERS_SETTINGS}
    tests = ["tests/core/test_settings.py::test_defaults_put_everything_in_the_data_folder",
             "tests/core/test_settings.py::test_mail_from_names_the_company",
             "tests/core/test_settings.py::test_timezone_defaults_to_tokyo_and_a_bad_one_is_named",
             "tests/mailer/test_tx.py::test_a_tx_mail_reaches_each_address_with_its_data_and_headers"]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
