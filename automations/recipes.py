"""Recipes: ready-made automations a newcomer starts from (welcome series, post-purchase reminder, birthday, win
back, abandoned cart). Each creates the automation with its draft and each send step's message, written in
Japanese with a short body, so it can be activated at once (a recipe that needs a list or segment takes the
first list, or makes its segment)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from automations.lifecycle import create_automation, new_message
from automations.models import Automation
from core.db import db
from lists.models import MailingList, Segment
from lists.segments import save_segment
from mailer.models import ContentType

Message = tuple[str, str, str]  # (name, subject, HTML body)


def _body(*paragraphs: str) -> str:
    unsubscribe = '<a href="{{ unsubscribe_url }}">配信停止はこちら</a>'
    return "".join(f"<p>{p}</p>" for p in ["{{ subscriber.name }} 様", *paragraphs, unsubscribe])


WELCOME = ("ようこそ", "ご登録ありがとうございます", _body("ニュースレターへのご登録ありがとうございます。",
                                                            "これから役立つ情報をお届けします。"))
WELCOME_2 = ("おすすめ", "人気の記事をご紹介します", _body("ご登録から3日が経ちました。",
                                                       "よく読まれている記事をまとめました。ぜひご覧ください。"))
INK = ("インクのご案内", "そろそろインクの交換時期ではありませんか", _body(
    '{{ event.properties.product_name | default("プリンター") }} をお使いいただきありがとうございます。',
    "ご購入から30日が経ちました。交換用のインクはお手元にありますか？"))
BIRTHDAY = ("誕生日", "お誕生日おめでとうございます", _body("お誕生日おめでとうございます。",
                                                         "ささやかですが、特別なクーポンをお贈りします。"))
WIN_BACK = ("お久しぶりです", "お久しぶりです。最近の新着をお届けします", _body(
    "しばらくメールを開いていただけていないようです。", "最近の新着情報をまとめました。"))
WIN_BACK_2 = ("最後のご案内", "配信を続けてもよろしいですか", _body(
    "今後もメールをお届けしてよろしいですか？", "不要でしたら、下のリンクから配信を停止できます。"))
CART = ("カート", "カートに商品が残っています", _body("カートに商品が残っています。",
                                                   "お買い忘れはありませんか？"))


@dataclass(frozen=True)
class Recipe:
    """A ready-made automation: its name in the list of recipes, what it does, how it is made."""

    key: str
    title: Any
    description: Any
    make: Callable[[str], dict[str, Any]]  # the automation's name → its draft (with messages to write: "$n")
    messages: tuple[Message, ...]


def _welcome(_name: str) -> dict[str, Any]:
    first = db.session.scalar(select(MailingList.id).order_by(MailingList.id).limit(1))
    trigger: dict[str, Any] = {"kind": "subscribed"}
    if first is not None:
        trigger["list_id"] = first
    return {"trigger": trigger, "entry": {"mode": "once"}, "start": "welcome",
            "steps": {"welcome": {"type": "send", "campaign_id": "$0", "next": "wait"},
                      "wait": {"type": "wait", "mode": "since_entry", "days": 3, "at": "10:00", "next": "second"},
                      "second": {"type": "send", "campaign_id": "$1", "next": None}}}


def _printer(_name: str) -> dict[str, Any]:
    return {"trigger": {"kind": "event", "event": "purchase",
                        "property": {"key": "category", "op": "eq", "value": "printer"}},
            "entry": {"mode": "every_time", "dedupe_property": "order_id"},
            "start": "wait",
            "steps": {"wait": {"type": "wait", "mode": "duration", "days": 30, "next": "check"},
                      "check": {"type": "condition",
                                "expression": 'not did("purchase", within_days=30, category="ink")',
                                "rule": {"match": "all", "rules": [
                                    {"field": "event", "op": "did_not",
                                     "value": {"name": "purchase", "within_days": 30,
                                               "property": {"key": "category", "op": "eq", "value": "ink"}}}]},
                                "yes": "remind", "no": None},
                      "remind": {"type": "send", "campaign_id": "$0", "next": "ink"},
                      "ink": {"type": "wait_event", "event": "purchase", "days": 30,
                              "property": {"key": "category", "op": "eq", "value": "ink"},
                              "next": "bought", "timeout": "gave_up"},
                      "bought": {"type": "goal"},
                      "gave_up": {"type": "exit"}}}


def _birthday(_name: str) -> dict[str, Any]:
    return {"trigger": {"kind": "date", "attribute": "birthday", "yearly": True, "at": "09:00"},
            "entry": {"mode": "again_after", "days": 300}, "start": "greet",
            "steps": {"greet": {"type": "send", "campaign_id": "$0", "next": None}}}


def _win_back(name: str) -> dict[str, Any]:
    segment = db.session.scalar(select(Segment).where(Segment.name == "90日間反応のない読者"))
    if segment is None:
        segment = save_segment(None, {"name": "90日間反応のない読者", "expression": "not engaged(within_days=90)"})
    return {"trigger": {"kind": "segment", "segment_id": segment.id}, "entry": {"mode": "once"}, "start": "hello",
            "steps": {"hello": {"type": "send", "campaign_id": "$0", "next": "wait"},
                      "wait": {"type": "wait", "mode": "since_last_mail", "days": 7, "at": "10:00", "next": "check"},
                      "check": {"type": "condition", "expression": "engaged(within_days=7)",
                                "rule": {"match": "all", "rules": [
                                    {"field": "engaged", "op": "did", "value": {"within_days": 7}}]},
                                "yes": "back", "no": "last"},
                      "back": {"type": "goal"},
                      "last": {"type": "send", "campaign_id": "$1", "next": None}}}


def _cart(_name: str) -> dict[str, Any]:
    return {"trigger": {"kind": "event", "event": "cart_abandoned"},
            "entry": {"mode": "every_time", "dedupe_property": "cart_id"},
            "exit": {"on_unsubscribe": True, "events": [{"event": "purchase"}]},
            "start": "wait",
            "steps": {"wait": {"type": "wait_event", "event": "purchase", "hours": 1, "next": "bought",
                               "timeout": "remind"},
                      "remind": {"type": "send", "campaign_id": "$0", "next": "later"},
                      "later": {"type": "wait_event", "event": "purchase", "days": 3, "next": "bought",
                                "timeout": None},
                      "bought": {"type": "goal"}}}


RECIPES = {recipe.key: recipe for recipe in (
    Recipe("welcome", _l("Welcome series"),
           _l("Subscribed to a list → welcome email → 3 days later → a second email."), _welcome, (WELCOME, WELCOME_2)),
    Recipe("printer", _l("Post-purchase reminder"),
           _l("Bought a printer (a purchase event with category: printer) → 30 days → no ink bought (category: "
              "ink)? → reminder, naming product_name → bought ink within 30 days: goal."), _printer,
           (INK,)),
    Recipe("birthday", _l("Birthday"), _l("On the birthday attribute, every year at 09:00 → greeting."), _birthday,
           (BIRTHDAY,)),
    Recipe("win_back", _l("Win back"),
           _l("No opens or clicks in 90 days → email → 7 days → still silent? → last email."), _win_back,
           (WIN_BACK, WIN_BACK_2)),
    Recipe("cart", _l("Abandoned cart"),
           _l("Cart abandoned → 1 hour without a purchase → reminder → purchase within 3 days: goal."), _cart,
           (CART,)),
)}


def from_recipe(key: str) -> Automation:
    """Create an automation from a recipe: its draft, and a written message for each of its send steps."""
    recipe = RECIPES[key]
    name = str(recipe.title)
    draft = recipe.make(name)
    automation = create_automation(name, {})
    ids = []
    for message_name, subject, body in recipe.messages:
        campaign = new_message(automation, message_name, subject)
        campaign.content_type, campaign.body = ContentType.HTML, body
        ids.append(campaign.id)
    for step in draft["steps"].values():
        if step.get("type") == "send":
            step["campaign_id"] = ids[int(str(step["campaign_id"]).removeprefix("$"))]
    automation.draft = draft
    db.session.commit()
    return automation
