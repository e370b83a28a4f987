"""Users of the UI and of the API (listmonk's "API users", each with one token)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.auth import Role
from core.db import Timestamped, db, str_enum


class UserType(StrEnum):
    """A person who logs in, or an integration that calls the API with a token."""

    USER = "user"
    API = "api"


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
        """Return the id Flask-Login keeps in the session."""
        return str(self.id)
