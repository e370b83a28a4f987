"""Telling people from machines (docs/architecture.md): named rules, first match wins, each saying why.

Every event keeps the evidence these rules read (tracking/models.py), so ``flask tracking
reclassify`` can run changed rules over history. A rule returns its verdict or None to pass.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Protocol

from ua_parser import parse

from tracking.models import EventKind

# Scanners click what arrives before anyone could have read it (Microsoft Safe Links, Proofpoint …).
CLICK_AFTER_DELIVERY = timedelta(seconds=3)
# Two different links of one message within this of each other: a scanner following every link.
SAME_SECOND = timedelta(seconds=1)
SCANNER_UA = re.compile(
    r"barracuda|mimecast|proofpoint|safelinks|bingpreview|forcepoint|trendmicro|symantec|sophos|fortiguard"
    r"|cisco|ironport|zscaler|paloalto|appriver|messagelabs|libwww|python-|curl/|wget/|go-http-client|okhttp"
    r"|java/|headlesschrome|phantomjs|bot\b|crawler|spider|scanner", re.IGNORECASE)
UNKNOWN = "Other"  # ua-parser's name for what it does not recognise


@dataclass(frozen=True)
class Evidence:
    """What is known about one open or click when it is classified."""

    kind: EventKind
    at: datetime
    user_agent: str
    head: bool
    prefetch: bool
    sent_at: datetime | None  # the delivery's, when known
    other_links_same_second: int = 0  # other links of the same message clicked within SAME_SECOND


Rule = Callable[[Evidence], bool | None]  # True: a person; False: a machine; None: this rule cannot tell


def gmail_proxy(event: Evidence) -> bool | None:
    """Gmail fetches images through its proxy when a person opens the mail: never drop it."""
    return True if event.kind == EventKind.OPEN and "GoogleImageProxy" in event.user_agent else None


def head_request(event: Evidence) -> bool | None:
    """A HEAD request checks a URL; a person's mail client or browser asks with GET."""
    return False if event.head else None


def prefetch_header(event: Evidence) -> bool | None:
    """The client said it fetches ahead (Purpose or Sec-Purpose: prefetch), not because someone looked."""
    return False if event.prefetch else None


def apple_mpp(event: Evidence) -> bool | None:
    """Apple Mail Privacy Protection prefetches every image from Apple's relays with the bare UA ``Mozilla/5.0``.

    No person's mail client sends that UA alone, so it is a machine from any network.
    """
    return False if event.kind == EventKind.OPEN and event.user_agent.strip() == "Mozilla/5.0" else None


def scanner_user_agent(event: Evidence) -> bool | None:
    """Security scanners, link checkers and scripts name themselves, or ua-parser knows them as spiders."""
    return False if _names_a_machine(event.user_agent) else None


def no_user_agent(event: Evidence) -> bool | None:
    """Every mail client and browser sends a UA; a request without one is a script."""
    return False if not event.user_agent.strip() else None


def same_second_clicks(event: Evidence) -> bool | None:
    """Every link of a message clicked within the same second: a scanner following them all."""
    return False if event.kind == EventKind.CLICK and event.other_links_same_second > 0 else None


def click_right_after_delivery(event: Evidence) -> bool | None:
    """A click within seconds of the relay accepting the message came before anyone could read it."""
    if event.kind == EventKind.CLICK and event.sent_at is not None and event.at - event.sent_at < CLICK_AFTER_DELIVERY:
        return False
    return None


def person(event: Evidence) -> bool | None:
    """Nothing says machine: a person."""
    return True


RULES: tuple[Rule, ...] = (gmail_proxy, head_request, prefetch_header, apple_mpp, scanner_user_agent, no_user_agent,
                           same_second_clicks, click_right_after_delivery, person)


def classify(event: Evidence) -> tuple[bool, str]:
    """Return (human, the name of the rule that decided)."""
    for rule in RULES:
        verdict = rule(event)
        if verdict is not None:
            return verdict, rule.__name__
    raise AssertionError("the last rule always decides")  # pragma: no cover


class Judged(Protocol):
    """What judge_all reads of an event: a stored TrackingEvent or one being flushed."""

    @property
    def kind(self) -> EventKind: ...
    @property
    def at(self) -> datetime: ...
    @property
    def user_agent(self) -> str | None: ...
    @property
    def head(self) -> bool: ...
    @property
    def prefetch(self) -> bool: ...
    @property
    def delivery_id(self) -> int | None: ...
    @property
    def link_id(self) -> int | None: ...


def judge_all(events: Sequence[Judged], sent_at: Mapping[int, datetime | None]) -> list[tuple[bool, str]]:
    """Classify events together, so a click sees the message's other clicks; pass every click of each delivery."""
    clicks: dict[int, list[Judged]] = defaultdict(list)
    for event in events:
        if event.kind == EventKind.CLICK and event.delivery_id is not None:
            clicks[event.delivery_id].append(event)
    verdicts = []
    for event in events:
        siblings = clicks.get(event.delivery_id or 0, []) if event.kind == EventKind.CLICK else []
        others = sum(1 for other in siblings if other.link_id != event.link_id
                     and abs(other.at - event.at) < SAME_SECOND)
        verdicts.append(classify(Evidence(event.kind, event.at, event.user_agent or "", event.head, event.prefetch,
                                          sent_at.get(event.delivery_id or 0), others)))
    return verdicts


def client_and_device(user_agent: str) -> tuple[str | None, str | None]:
    """Return the mail client (or browser) and the device (or the OS) ua-parser finds in a UA."""
    client, device, system = _parsed(user_agent)
    if "GoogleImageProxy" in user_agent:
        client = "Gmail"  # the proxy stands for whatever device the reader used
    return client, device if device is not None else system


@lru_cache(maxsize=4096)
def _names_a_machine(user_agent: str) -> bool:
    """Whether a UA names a scanner, checker or script (the pattern takes ~0.1 ms a UA: the same UAs recur)."""
    return bool(SCANNER_UA.search(user_agent)) or _parsed(user_agent)[1] == "Spider"


@lru_cache(maxsize=4096)
def _parsed(user_agent: str) -> tuple[str | None, str | None, str | None]:
    """Client, device and OS families, None where ua-parser does not know (it takes ~2 ms: the same UAs recur)."""
    result = parse(user_agent)

    def known(family: str | None) -> str | None:
        return family if family and family != UNKNOWN else None

    return (known(result.user_agent.family if result.user_agent else None),
            known(result.device.family if result.device else None),
            known(result.os.family if result.os else None))

