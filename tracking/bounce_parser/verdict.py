"""What a notice says about one recipient: hard, soft or about the sender (docs/architecture.md's bounce rules,
shared with the send path through ``mailer.replies.classify_bounce``), with the status and error text."""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import Message

from mailer.replies import HARD_CODES, Outcome, Stage, classify_bounce, enhanced_code
from tracking.bounce_parser.addresses import VERP, addresses_in
from tracking.bounce_parser.message import clean
from tracking.bounce_parser.model import DIAGNOSTIC_CHARS, Failure, Verdict


def as_reported(message: Message, original: Message | None, text: str,
                failures: tuple[Failure, ...]) -> tuple[Failure, ...]:
    """The failures as the whole report qualifies them: who wrote it, and which address a reply refused."""
    return _refusing_the_sender(original, _as_appliance_says(message, text, failures))


# Sendmail-style replies name the address they refused: "550 5.7.1 <a@b>... Access denied". When that
# is the returned message's envelope sender (its Return-Path; ours is bounce+TOKEN@), the refusal is
# about the sender, whoever the recipient was: it alerts, and never suppresses the recipient.
_REFUSED_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s]+)>\s?\.\.\.")


def _refusing_the_sender(original: Message | None, failures: tuple[Failure, ...]) -> tuple[Failure, ...]:
    senders = set(addresses_in(clean(original.get("Return-Path", "")))) if original is not None else set()

    def names_sender(failure: Failure) -> bool:
        refused = [m.group(1).lower() for m in _REFUSED_ADDRESS.finditer(failure.diagnostic)]
        return any(address in senders or VERP.match(address) for address in refused if address != failure.address)

    return tuple(replace(f, verdict=Verdict.SENDER) if not f.temporary and names_sender(f) else f for f in failures)


# Mail-filtering appliances in front of a mail server write "user unknown" for mail their filters
# refused too: their words alone (with a generic code such as 5.0.0) do not suppress an address at
# once (soft: suppressed when repeated); their 5.1.1 does. They are known by the headers they add.
_APPLIANCE_HEADERS = (("X-AHMAILID", re.compile("")),  # ActiveHunter
                      ("X-NAI-Header", re.compile("mcafee", re.I)),
                      ("X-Mailer", re.compile(r"surfcontrol|m-filter", re.I)),
                      ("From", re.compile(r"@[\w.-]*mxlogic\.net|mail deliver system", re.I)))
# ... or by their notice: X1's "---The following addresses had delivery errors---" over "a@b [User unknown]"
# lines (whatever From name it is sent under; Sendmail's own heading has spaces and says "permanent fatal").
_APPLIANCE_NOTICE = re.compile(r"^-{3}The following addresses had delivery errors-{3}\s*$", re.MULTILINE)


def _as_appliance_says(message: Message, text: str, failures: tuple[Failure, ...]) -> tuple[Failure, ...]:
    if not any(name in message and pattern.search(clean(message[name])) for name, pattern in _APPLIANCE_HEADERS) \
            and not _APPLIANCE_NOTICE.search(text):
        return failures
    return tuple(replace(f, verdict=Verdict.SOFT) if f.verdict == Verdict.HARD and f.status not in HARD_CODES else f
                 for f in failures)


_TEMPORARY = re.compile(r"\b(?:temporar\w+ (?:failure|error|problem)|delayed|will (?:retry|try again|keep trying)|"
                        r"not yet been delivered|"
                        r"still trying|warning: message)\b", re.IGNORECASE)
_PERMANENT = re.compile(r"permanent|given up|gave up|failed permanently|could not be delivered", re.IGNORECASE)
_REPLY = re.compile(r"\b([245])\d\d[ ,-]")
_FAILURE_REPLY = re.compile(r"\b([45])\d\d[ ,-]")  # a refusal, not the 2xx/3xx lines of a transcript
FAILURE_CODE = re.compile(r"\b([45])\.(\d{1,3})\.(\d{1,3})\b")


# A notice's own statement that the account exists but takes no mail now.
_ACCOUNT_STATE = re.compile(r"\b(?:account|mailbox)(?:es|s)? (?:is|are|was|has been) (?:temporarily )?(?:disabled|"
                            r"suspended|deactivated|inactive|locked|frozen|full|over (?:its )?quota)", re.IGNORECASE)


# A virus or spam scanner's banner in a notice ("scanned for viruses and spam by …", a "[spam and virus
# filter]" tag on the reply) names what the gateway is, not why this recipient failed: it is not read.
_SCANNER_BANNER = re.compile(
    r"\b(?:scanned|checked|filtered|protected|inspected)\b[^\n.]{0,40}\b(?:virus|viruses|spam|malware)\b[^\n]*|"
    r"\b(?:virus|viruses|spam|anti-?spam|anti-?virus)(?: and | ?& ?| ?/ ?)(?:virus|viruses|spam|content)\s+"
    r"(?:scanner|filter|gateway|protection|security)\b[^\n.]*|"
    r"\b(?:spam|viruses)\b and virus-infected messages are blocked\.?",
    re.IGNORECASE)
# A refusal for the message's size is soft whatever code it came with (RFC 3463 5.2.3, 5.3.4; a 552).
_SIZE_CODES = {"5.2.3", "5.3.4", "4.2.3", "4.3.4"}
_SIZE_REFUSAL = re.compile(r"(?:message|mail|size)\b[^.\n]{0,20}\bsize (?:limit )?exceed|"
                           r"message size exceeded|size exceeds|exceeds? (?:the )?(?:maximum|fixed|permitted)?\s*"
                           r"(?:message )?size|message (?:is )?too (?:big|large)|メッセージ(?:の)?サイズ",
                           re.IGNORECASE)
# Japanese carriers and servers say in Japanese that the address does not exist (or is full, or refused).
_JAPANESE_NO_SUCH_ADDRESS = re.compile(r"(?:宛先|あて先|アドレス|ユーザー?|受信者|メールボックス)[^。\n]{0,12}"
                                       r"(?:見つかりません|存在しません|不明|ありません)|存在しない(?:アドレス|ユーザー?)")
_JAPANESE_SOFT = re.compile(r"容量|満杯|一杯|いっぱい|受信拒否|拒否|制限|一時的|混雑")


def failure_of(address: str, status: str | None, context: str, *, delayed: bool = False, notice: str = "",
               stated: str = "") -> Failure:
    """Classify what a notice says about one recipient (``context``; ``notice``: the human text around it;
    ``stated``: what the notice says before naming any recipient, when the report quotes no reply)."""
    if status is None:
        coded = FAILURE_CODE.search(context)
        code = ".".join(coded.groups()) if coded else None
        reply = _FAILURE_REPLY.search(context)
        if code:
            status = code
        elif reply:
            status = f"{reply.group(1)}.0.0"
        elif _TEMPORARY.search(context) and not _PERMANENT.search(context):
            status, delayed = "4.0.0", True  # "will retry", "only a warning": the message is still queued
        else:
            status = "5.0.0"
    if delayed and not status.startswith("4"):
        status = "4" + status[1:]
    refusal = _SCANNER_BANNER.sub(" ", _refusal_text(context))
    outcome = classify_bounce(status, refusal, _stage(context) or _stage(notice))
    if outcome is Outcome.HARD_BOUNCE and _ACCOUNT_STATE.search(" ".join(stated.split())):
        outcome = Outcome.FAILED  # the MTA says the account exists but is disabled (or full): not gone
    if outcome is Outcome.FAILED and _JAPANESE_NO_SUCH_ADDRESS.search(refusal) and not _JAPANESE_SOFT.search(refusal):
        outcome = Outcome.HARD_BOUNCE
    if outcome in (Outcome.HARD_BOUNCE, Outcome.SENDER_REJECTED) \
            and (status in _SIZE_CODES or _SIZE_REFUSAL.search(" ".join(refusal.split()))):
        # the message was too big: not the address wrong (some MTAs say 5.1.1 to it), nor the sender
        # refused (a SIZE= too big is refused at MAIL FROM)
        outcome = Outcome.FAILED
    verdict = {Outcome.HARD_BOUNCE: Verdict.HARD, Outcome.SENDER_REJECTED: Verdict.SENDER}.get(outcome, Verdict.SOFT)
    return Failure(address=address, verdict=verdict, status=status, diagnostic=_diagnostic_line(context),
                   temporary=status.startswith("4"), delayed=delayed)


_STAGE_WORDS = re.compile(r"(?:in reply to|after|error following)\s+(?:the\s+)?(?:end of\s+)?"
                          r"(data|mail from|rcpt to|rcpt)\b"
                          # qmail-remote's own sentences for a refusal at MAIL FROM, RCPT TO and after DATA
                          r"|but (sender) was rejected|does not like (recipient)|failed (after i sent the message)",
                          re.IGNORECASE)
_REFUSAL_LINE = re.compile(r"^\s*(?:<<<|out:)\s*[45]\d\d", re.IGNORECASE | re.MULTILINE)
_COMMAND_LINE = re.compile(r"^\s*(?:>>>|in:)\s*(data|mail from|rcpt to)\b", re.IGNORECASE | re.MULTILINE)
_STAGES = {"data": Stage.DATA, "mail from": Stage.MAIL, "rcpt to": Stage.RCPT, "rcpt": Stage.RCPT,
           "sender": Stage.MAIL, "recipient": Stage.RCPT, "after i sent the message": Stage.DATA}


def _stage(context: str) -> Stage | None:
    """Which SMTP command the refusal answered, when the notice says (Postfix, Exim, a Sendmail transcript)."""
    match = _STAGE_WORDS.search(context)
    if match is None:  # a transcript: the last command before the first refusal
        refusal = _REFUSAL_LINE.search(context)
        commands = list(_COMMAND_LINE.finditer(context, 0, refusal.start())) if refusal else []
        match = commands[-1] if commands else None
    return _STAGES[" ".join(next(g for g in match.groups() if g).lower().split())] if match else None


def _refusal_text(context: str) -> str:
    """What to classify: the first refusal (a line with a 4xx/5xx reply, the line before it, and the line after
    when that is not another reply),
    so that a later clause elsewhere in the notice (a retry of another host, a scanner's header,
    a hedge) does not outweigh the recipient's own refusal. The whole context when it quotes no refusal."""
    lines = context.splitlines()
    coded = [bool(_FAILURE_REPLY.search(line + " ") or FAILURE_CODE.search(line)) for line in lines]
    for number, line in enumerate(lines):
        if coded[number]:
            after = lines[number + 1:number + 2] if number + 1 < len(lines) and not coded[number + 1] else []
            return "\n".join([*lines[max(0, number - 1):number], line, *after])
    return context


def _diagnostic_line(context: str) -> str:
    """The most telling part of the error text: the lines with an SMTP reply, else the whole, shortened."""
    lines = [line.strip() for line in context.splitlines() if line.strip()]
    coded = [line for line in lines if _REPLY.search(line + " ") or enhanced_code(line)]
    chosen = " ".join(coded or lines)
    return chosen[:DIAGNOSTIC_CHARS]
