"""Users of the UI and of the API (listmonk's "API users", each with one token); settings edited in the browser and
the setup steps done."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.auth import Role
from core.db import Timestamped, db, str_enum, utcnow


class UserType(StrEnum):
    """A person who logs in, or an integration that calls the API with a token."""

    USER = "user"
    API = "api"


def new_session_token() -> str:
    """Return a fresh random session token."""
    return secrets.token_urlsafe(24)


class User(Timestamped, db.Model):  # type: ignore[name-defined]
    """A person or an API user, with one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so "Admin" and "admin" cannot be two accounts.
    username: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[UserType] = mapped_column(str_enum(UserType))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # SHA-256 of the API token: tokens are long and random, so a slow hash adds nothing.
    token_hash: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(10))
    enabled: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    # Part of every session's user id (get_id): a new one ends the sessions that carry the old one
    # (logout, a password change), though Flask keeps sessions in the browser's signed cookie.
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    # Two-factor login (core/two_factor.py): the TOTP secret, encrypted; on from two_factor_since.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    two_factor_since: Mapped[datetime | None]
    totp_last_step: Mapped[int | None]  # the 30-second step of the last code taken: no code works twice

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        """Tell Flask-Login this user is signed in."""
        return True

    @property
    def is_active(self) -> bool:
        """Tell Flask-Login whether this user may sign in."""
        return self.enabled

    @property
    def is_anonymous(self) -> bool:
        """Tell Flask-Login this is a real user."""
        return False

    def get_id(self) -> str:
        """Return the id Flask-Login keeps in the session: the user's id and session token."""
        return f"{self.id}:{self.session_token}"

    @property
    def two_factor(self) -> bool:
        """Tell whether this user logs in with a code after the password."""
        return self.two_factor_since is not None


class RecoveryCode(db.Model):  # type: ignore[name-defined]
    """One recovery code of a user with two-factor login, usable once instead of a TOTP code."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the code: codes are long and random (as API tokens), so a slow hash adds nothing.
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class StoredSetting(db.Model):  # type: ignore[name-defined]
    """An editable setting's value as an admin saved it (core/stored_settings.py): the variable's text."""

    __tablename__ = "stored_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # KAIRAN_COMPANY_NAME, …
    value: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettingsVersion(db.Model):  # type: ignore[name-defined]
    """One row counting changes to the shared configuration (core/shared_config.py): settings, webhook endpoints."""

    __tablename__ = "settings_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


class SetupStep(db.Model):  # type: ignore[name-defined]
    """A step of the setup checklist that only an action shows done (a relay's test passed, a test mail sent)."""

    __tablename__ = "setup_steps"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    done_at: Mapped[datetime] = mapped_column(default=utcnow)
