"""Queries over lists, shared by the UI and the API."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, or_, select

from core.db import db
from core.errors import ValidationError
from lists.models import ListOptin, ListType, MailingList

MAX_LIST_NAME = 200  # the column's length

# Orderings the API accepts (listmonk's order_by names), mapped to columns.
LIST_ORDERINGS = {"id": MailingList.id, "name": MailingList.name, "created_at": MailingList.created_at,
                  "updated_at": MailingList.updated_at}


def lists_query(query: str = "", order_by: str = "id", descending: bool = False) -> Select[Any]:
    """Return a select of lists matching a name search, in the asked order."""
    stmt = select(MailingList)
    if query:
        stmt = stmt.where(or_(MailingList.name.ilike(f"%{query}%"), MailingList.description.ilike(f"%{query}%")))
    column = LIST_ORDERINGS.get(order_by, MailingList.id)
    return stmt.order_by(column.desc() if descending else column.asc(), MailingList.id)


def list_as_dict(mailing_list: MailingList) -> dict[str, Any]:
    """Serialise a list as listmonk's API does (subscriber counts join with subscribers, issue 4)."""
    return {
        "id": mailing_list.id,
        "uuid": mailing_list.uuid,
        "name": mailing_list.name,
        "type": mailing_list.type.value,
        "optin": mailing_list.optin.value,
        "status": mailing_list.status.value,
        "tags": mailing_list.tags or [],
        "description": mailing_list.description,
        "created_at": mailing_list.created_at.isoformat(),
        "updated_at": mailing_list.updated_at.isoformat(),
    }


def _choice(enum_class: type[StrEnum], value: Any, field: str, default: StrEnum) -> Any:
    if value in (None, ""):
        return default
    try:
        return enum_class(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_class)
        raise ValidationError(_("%(field)s must be one of: %(allowed)s.", field=field, allowed=allowed)) from None


def create_list(data: dict[str, Any]) -> MailingList:
    """Create a list from listmonk's fields (name, type, optin, tags, description), validated."""
    name = str(data.get("name") or "").strip()
    if not name or len(name) > MAX_LIST_NAME:
        raise ValidationError(_("A list needs a name of 1 to %(n)d characters.", n=MAX_LIST_NAME))
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValidationError(_("tags must be a list of strings."))
    mailing_list = MailingList(
        name=name,
        type=_choice(ListType, data.get("type"), "type", ListType.PRIVATE),
        optin=_choice(ListOptin, data.get("optin"), "optin", ListOptin.SINGLE),
        tags=[t.strip() for t in tags if t.strip()],
        description=str(data.get("description") or ""),
    )
    db.session.add(mailing_list)
    db.session.commit()
    return mailing_list
