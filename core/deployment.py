"""What the processes of one deployment must share, checked as each worker, web or bounce server starts."""

from __future__ import annotations

from core.settings import Settings, SettingsError

SECRET_KEY_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"  # noqa: S105 - how to make one


def require_shared_secret(settings: Settings) -> None:
    """Refuse to start on PostgreSQL without KAIRAN_SECRET_KEY.

    On PostgreSQL the processes may run on several machines, each with its own data folder: a key generated
    into each folder would differ, and signed links, sessions, stored DKIM keys and relay passwords would
    work on one machine and not on another. The embedded SQLite installation is one machine's, and keeps
    its generated key.
    """
    if settings.secret_key_file is None or not settings.database_url.startswith("postgresql"):
        return
    raise SettingsError(
        "KAIRAN_SECRET_KEY is not set. With PostgreSQL, every web and worker process on every machine must sign "
        "links and sessions and encrypt stored DKIM keys and relay passwords with the same key, and a key "
        "generated on each machine would differ: set KAIRAN_SECRET_KEY to one random value of at least 16 "
        f"characters on every machine (for example the output of {SECRET_KEY_COMMAND}). If Kairan already ran "
        "with a generated key, use that one (the secret_key file in the data folder of the machine that ran the "
        "web app), or what it encrypted becomes unreadable."
    )
