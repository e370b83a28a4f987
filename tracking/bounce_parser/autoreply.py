"""Mail that answers automatically and is not a bounce: RFC 3834 auto-replies, and challenge-response
filters asking the sender to confirm."""

from __future__ import annotations

import re
from email.message import Message

from tracking.bounce_parser.message import clean, cut_original
from tracking.bounce_parser.notices import quotes_refusal

_AUTO_SUBJECT = re.compile(
    r"auto(?:matic)?[ -]?(?:reply|response|respons|antwort|réponse)|out of (?:the )?office|away from|"
    r"on vacation|vacation reply|abwesenheit|absence|自動応答|自動返信|自動返答|不在", re.IGNORECASE)


def auto_reply(message: Message) -> str | None:
    """The rule that says a message is an auto-reply (RFC 3834 and common practice), or None."""
    submitted = message.get("Auto-Submitted", "").strip().lower()
    if submitted.startswith("auto-replied"):
        return "rfc3834-auto-submitted"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Vacation"):
        if message.get(name):
            return f"header-{name.lower()}"
    if message.get("X-Auto-Response-Suppress") and message.get("In-Reply-To") is None \
            and _AUTO_SUBJECT.search(clean(message.get("Subject", ""))):
        return "microsoft-automatic-reply"
    if _AUTO_SUBJECT.search(clean(message.get("Subject", ""))):
        return "subject"
    if message.get("Precedence", "").strip().lower() == "auto_reply":
        return "precedence-auto-reply"
    return None


# --- challenge-response mail ------------------------------------------------------------------------------

# A reader's challenge-response filter (TMDA, Boxbe, SpamArrest, ChoiceMail, Mailblocks …) holds mail
# from unknown senders and asks them to confirm: nothing failed and the address exists. It often
# borrows a bounce's words ("will not be delivered", "mail delivery software"), so it is read first.
_CHALLENGE_WORDS = re.compile(
    r"not (?:been )?pre-?approved|(?:list of )?approved senders|"
    r"(?:confirm|verify|prove)(?: that)? you(?:'re| are) (?:a )?(?:human|person|real|not a (?:robot|spammer|machine))|"
    r"(?:address|message|e-?mail) has not (?:yet )?been (?:verified|confirmed)|to release your (?:message|e-?mail)|"
    r"(?:guest|waiting) list|challenge[- ]response|spam ?arrest|\bboxbe\b|\btmda\b|choicemail|mailblocks|"
    r"(?:held|waiting) (?:for|pending|until) (?:your )?(?:confirmation|verification|approval)|"
    r"please confirm your (?:message|e-?mail|address)|verify your (?:e-?mail )?address to (?:deliver|release)|"
    r"送信者(?:の)?(?:確認|認証)|承認(?:された|済みの)送信者",
    re.IGNORECASE)


def challenge(message: Message, text: str) -> str | None:
    """The rule that says a message is a challenge-response filter's request to confirm, or None."""
    if any(name.lower().startswith(("x-boxbe", "x-tmda", "x-spamarrest")) for name in message.keys()) \
            or "tmda" in message.get("X-Delivery-Agent", "").lower():
        return "challenge-response-header"
    if quotes_refusal(text):  # a failure report that happens to use the words is still one
        return None
    if _CHALLENGE_WORDS.search(f"{clean(message.get('Subject', ''))}\n{cut_original(text)}"):
        return "challenge-response"
    return None
