"""List services: queries, counts, create, change, delete; shared by the UI and the API."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select

from core.db import db, utcnow
from core.errors import ValidationError
from core.oneline import one_line
from core.signals import lists_deleting
from core.validation import choice
from lists.errors import ListNotFoundError
from lists.models import ListOptin, ListStatus, ListType, MailingList, Subscription, SubscriptionStatus
from lists.queries import delete_memberships

MAX_LIST_NAME = 200  # the column's length

# Orderings the API accepts (listmonk's order_by names), mapped to columns.
LIST_ORDERINGS = {"id": MailingList.id, "name": MailingList.name, "created_at": MailingList.created_at,
                  "updated_at": MailingList.updated_at}


def lists_query(query: str = "", order_by: str = "id", descending: bool = False,
                tags: list[str] | None = None) -> Select[Any]:
    """Return a select of lists matching a name search (and tags), in the asked order."""
    stmt = select(MailingList)
    if query:
        stmt = stmt.where(or_(MailingList.name.ilike(f"%{query}%"), MailingList.description.ilike(f"%{query}%")))
    column = LIST_ORDERINGS.get(order_by, MailingList.id)
    stmt = stmt.order_by(column.desc() if descending else column.asc(), MailingList.id)
    if tags:
        # Tags are a small JSON array per list; lists number in the hundreds, so filter here.
        wanted = set(tags)
        ids = [m.id for m in db.session.scalars(stmt) if wanted <= set(m.tags or [])]
        stmt = stmt.where(MailingList.id.in_(ids))
    return stmt


def subscription_counts(list_ids: list[int]) -> dict[int, dict[str, int]]:
    """Return, per list, how many subscriptions it has in each status (one grouped query)."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if not list_ids:
        return counts
    rows = db.session.execute(
        select(Subscription.list_id, Subscription.status, func.count())
        .where(Subscription.list_id.in_(list_ids))
        .group_by(Subscription.list_id, Subscription.status)
    )
    for list_id, status, count in rows:
        counts[list_id][SubscriptionStatus(status).value] = count
    return counts


def lists_as_dicts(lists: list[MailingList]) -> list[dict[str, Any]]:
    """Serialise lists as listmonk's API does, with their subscriber counts."""
    counts = subscription_counts([m.id for m in lists])
    return [list_as_dict(m, counts.get(m.id, {})) for m in lists]


def list_as_dict(mailing_list: MailingList, statuses: dict[str, int] | None = None) -> dict[str, Any]:
    """Serialise one list as listmonk does."""
    statuses = statuses if statuses is not None else subscription_counts([mailing_list.id]).get(mailing_list.id, {})
    return {
        "id": mailing_list.id,
        "uuid": mailing_list.uuid,
        "name": mailing_list.name,
        "type": mailing_list.type.value,
        "optin": mailing_list.optin.value,
        "status": mailing_list.status.value,
        "tags": mailing_list.tags or [],
        "description": mailing_list.description,
        "subscriber_count": sum(statuses.values()),
        "subscriber_statuses": statuses,
        "created_at": mailing_list.created_at.isoformat(),
        "updated_at": mailing_list.updated_at.isoformat(),
    }


def get_list(list_id: int) -> MailingList:
    """Return a list or raise NotFoundError."""
    mailing_list = db.session.get(MailingList, list_id)
    if mailing_list is None:
        raise ListNotFoundError()
    return mailing_list


def _apply(mailing_list: MailingList, data: dict[str, Any], *, partial: bool) -> None:
    """Set a list's fields from listmonk's JSON, validating each."""
    if "name" in data or not partial:
        name = one_line(data.get("name"), _("Name"))
        if not name or len(name) > MAX_LIST_NAME:
            raise ValidationError(_("A list needs a name of 1 to %(n)d characters.", n=MAX_LIST_NAME), field="name")
        mailing_list.name = name
    if "tags" in data or not partial:
        tags = data.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValidationError(_("tags must be a list of strings."), field="tags")
        mailing_list.tags = [t.strip() for t in tags if t.strip()]
    if "type" in data or not partial:
        mailing_list.type = choice(ListType, data.get("type"), "type", mailing_list.type or ListType.PRIVATE)
    if "optin" in data or not partial:
        mailing_list.optin = choice(ListOptin, data.get("optin"), "optin", mailing_list.optin or ListOptin.SINGLE)
    if "status" in data:
        mailing_list.status = choice(ListStatus, data.get("status"), "status", mailing_list.status)
    if "description" in data or not partial:
        mailing_list.description = str(data.get("description") or "")


def create_list(data: dict[str, Any]) -> MailingList:
    """Create a list from listmonk's fields (name, type, optin, tags, description), validated."""
    mailing_list = MailingList(type=None, optin=None)
    _apply(mailing_list, data, partial=False)
    db.session.add(mailing_list)
    db.session.commit()
    return mailing_list


def update_list(mailing_list: MailingList, data: dict[str, Any]) -> None:
    """Change the fields given of a list."""
    _apply(mailing_list, data, partial=True)
    mailing_list.updated_at = utcnow()
    db.session.commit()


def lists_by_name(search: str) -> Select[int]:
    """Ids of the lists whose names contain ``search`` (any case; all lists for ""): listmonk's delete by query."""
    stmt = select(MailingList.id)
    return stmt.where(MailingList.name.icontains(search, autoescape=True)) if search else stmt


def delete_lists(list_ids: list[int]) -> int:
    """Delete lists (their subscriptions go with them; subscribers stay); return how many."""
    lists = list(db.session.scalars(select(MailingList).where(MailingList.id.in_(list_ids))))
    lists_deleting.send(ids=[mailing_list.id for mailing_list in lists])  # a live automation's list is refused
    delete_memberships(list_ids=[mailing_list.id for mailing_list in lists])
    for mailing_list in lists:
        db.session.delete(mailing_list)
    db.session.commit()
    return len(lists)
