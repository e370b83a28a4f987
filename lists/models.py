"""Mailing lists (subscribers and subscriptions join them in the audience issue)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Timestamped, db, str_enum


class ListType(StrEnum):
    """Public lists show on the subscription form; private ones do not."""

    PUBLIC = "public"
    PRIVATE = "private"


class ListOptin(StrEnum):
    """Double opt-in lists mail only subscribers who confirmed."""

    SINGLE = "single"
    DOUBLE = "double"


class ListStatus(StrEnum):
    """Archived lists keep their subscribers but leave the pickers."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class MailingList(Timestamped, db.Model):  # type: ignore[name-defined]
    """A list subscribers join, as listmonk has it."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[ListType] = mapped_column(str_enum(ListType), default=ListType.PRIVATE)
    optin: Mapped[ListOptin] = mapped_column(str_enum(ListOptin), default=ListOptin.SINGLE)
    status: Mapped[ListStatus] = mapped_column(
        str_enum(ListStatus), default=ListStatus.ACTIVE
    )
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
