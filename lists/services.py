"""Queries over lists, shared by the UI and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select

from lists.models import MailingList

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
