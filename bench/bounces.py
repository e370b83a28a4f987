"""Benchmark: the bounce and complaint parser over a corpus of real messages with expected results.

Runs ``tracking.bounce_parser.parse`` over every file in the samples folder (and ``not-bounces/``
beside it, when there is one; a file that is an mbox, opening with a "From " line, one message at
a time, as intake would receive them) and scores it against a CSV with the columns of the shared
corpus's ``expected.csv`` (file, engine, index, status, reply_code, reason, hard_bounce, …, feedback_type):

- accuracy: share of expected rows (sample, recipient index) Kairan gets right. A bounce row is
  right when Kairan reports a bounce whose recipient at that index has the same hard/soft verdict
  (a refusal about the sender counts as soft: it never suppresses) and, where the row gives a
  status, one of the same class (4 or 5). Rows that are not bounces are right when Kairan says
  what they are: ``feedback`` rows a complaint, ``vacation`` rows an auto-reply, ``delivered``
  rows no failure for that recipient.
- arf_total / arf_recognised: ``arf-*`` samples, and those read as complaints.
- false_bounces: auto-replies (``rfc3834-*``) and ``not-bounces/`` read as bounces.

Each disagreement is printed first, one line each, with Kairan's reason where one is recorded
below; the JSON line comes last.
Run: .venv/bin/python -m bench.bounces [--samples DIR] [--expected CSV]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from tracking.bounce_parser import Intake, Kind, Verdict, parse

CORPUS = Path(__file__).resolve().parents[1].parent / "shared/testdata/bounces"

# Where Kairan knowingly decides otherwise than sisimai, and why (see the README's note on bounces).
_DELAY = "a delay warning (Action: delayed, 'only a temporary failure report'): Kairan reports it as temporary (4.x)"
_SAME_REPLY = ("the reply '550 5.2.1 <…>... User Unknown' says the user is unknown; sisimai calls the same reply "
               "userunknown in lhost-postfix-13, lhost-postfix-57, lhost-yandex-02, lhost-yahoo-05: Kairan reads "
               "them all alike (hard)")
REASONS: dict[str, str] = {
    "rfc3834-06.eml": "an auto-reply (Auto-Submitted: auto-replied) saying the inbox is no longer used: "
                      "RFC 3834 says auto-replies are not bounces, so Kairan never suppresses on one",
    **dict.fromkeys([f"lhost-opensmtpd-{n}.eml" for n in ("04", "06", "12", "15", "16")] + ["lhost-gmail-08.eml"],
                    _DELAY),
    **dict.fromkeys([f"lhost-{name}.eml" for name in ("messagingserver-06", "amazonworkmail-02", "zoho-02")],
                    _SAME_REPLY),
    **dict.fromkeys(["lhost-powermta-01.eml", "lhost-powermta-03.eml"],
                    f"{_SAME_REPLY}; PowerMTA itself files it under X-PowerMTA-BounceCategory: bad-mailbox"),
    "lhost-messagingserver-03.eml": "'Remote SMTP server has rejected address' with '550 5.7.1 550 User Unknown': "
                                    "hard, the 5.7.1 read as generic as in lhost-exim-30's '554 5.7.1 … Recipient "
                                    "address rejected: Access denied', which sisimai calls userunknown",
    **dict.fromkeys(["lhost-x2-01.eml", "lhost-x2-02.eml"],
                    "'This user doesn't have a example.com account' (Yahoo's wording, which sisimai calls userunknown "
                    "in lhost-sendmail-41 and rhost-yahooinc-03) says the address does not exist: hard"),
    "lhost-exchange2003-04.eml": "Exchange says 'Recipient Not Found' for this recipient and nothing about a filter: "
                                 "hard",
    "lhost-mailfoundry-01.eml": "MailFoundry quotes the reply of the server behind it ('Server … failed with: 550 <…> "
                                "No such user here'): the mail server's own answer, not the appliance's, so Kairan "
                                "believes it (hard)",
    "lhost-apachejames-01.eml": "the same notice text as lhost-verizon-02 ('550 … no such user here'), which sisimai "
                                "calls userunknown: Kairan reads both alike (hard)",
    "lhost-exim-31.eml": "the only reason given is a hedge ('the account or domain may not exist, they may be "
                         "blacklisted, or missing the proper dns entries'): Kairan does not suppress on a guess (soft)",
    "rhost-aol-06.eml": "'Malformed or unexpected name server reply' is a name server that failed to answer, not a "
                        "domain that does not exist (sisimai agrees on the same text in lhost-postfix-17): soft",
    "rfc3464-01.eml": "the DSN's own Status and Diagnostic-Code say 5.1.1 User Unknown for this recipient; the "
                      "'Not enough disk space' text is about another, local recipient (<nekochan>)",
    "rfc3464-35.eml": "the DSN says '550 user unknown' for this recipient and nothing about a filter: hard",
    "lhost-trendmicro-03.eml": "the notice gives no reason ('Unable to deliver message to <…>'): nothing says the "
                               "address does not exist, so Kairan does not suppress at once (soft)",
    "lhost-postfix-05.eml": "a 450 4.1.1 reply is temporary (Postfix's soft_bounce / unknown-alias 4xx): Kairan "
                            "retries and counts it soft rather than suppressing",
    "lhost-amazonses-02.eml": "the remote answered '550 Unknown user <address>' and the report does not say after "
                              "which command (docomo refuses filtered mail so after DATA, which Kairan reads as soft "
                              "when a report says so, as in rhost-nttdocomo-02/03); '5.3.0 - Other mail system "
                              "problem' is the reporting MTA's own gloss, which it also puts on SPF refusals: Kairan "
                              "follows the remote's words (hard)",
    "lhost-mailru-10.eml": "Exim's final notice ('This is a permanent error … retry timeout exceeded'): a permanent "
                           "failure for a temporary reason, class 5 and soft; sisimai gives 5.0.947 for the same "
                           "words in lhost-gmx-04",
    "lhost-sendmail-56.eml": "the DSN's own Status is 5.5.0 under 'permanent fatal errors': Kairan keeps class 5 "
                             "(soft); the only 4.7.0 in the message is a '421 4.7.0 … too many errors' answer to QUIT",
    "lhost-zoho-03.eml": "the quoted reply is RFC 5321's 550 text 'Requested action not taken: mailbox unavailable', "
                         "which Kairan reads as the mailbox not existing, as for Outlook's same reply in "
                         "lhost-outlook-08 and rhost-outlook-08 (which sisimai calls userunknown): hard",
    "rhost-messagelabs-03.eml": "'542 <address> Rejected': 542 is not an RFC 5321 reply code and 'Rejected' gives "
                                "no reason; nothing says the address does not exist, so Kairan does not suppress at "
                                "once (soft)",
}


@dataclass
class Score:
    """What a run over a corpus found."""

    samples: int = 0
    with_expectation: int = 0
    rows: int = 0
    right: int = 0
    arf_total: int = 0
    arf_recognised: int = 0
    false_bounces: int = 0
    disagreements: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of expected rows Kairan got right."""
        return round(self.right / self.rows, 4) if self.rows else 0.0

    def summary(self) -> dict[str, object]:
        """The JSON figures."""
        return {"samples": self.samples, "with_expectation": self.with_expectation, "accuracy": self.accuracy,
                "arf_total": self.arf_total, "arf_recognised": self.arf_recognised,
                "false_bounces": self.false_bounces, "disagreements": len(self.disagreements)}


def _got(intake: Intake, index: int) -> str:
    if intake.kind is not Kind.BOUNCE:
        return f"{intake.kind.value}{' (' + intake.reason + ')' if intake.reason else ''}"
    if index > len(intake.failures):
        return f"bounce with {len(intake.failures)} recipient(s), none at index {index}"
    failure = intake.failures[index - 1]
    return f"{failure.verdict.value} {failure.status} <{failure.address}> {failure.diagnostic[:120]!r}"


def _row_right(row: dict[str, str], intake: Intake) -> bool:
    index = int(row["index"])
    reason = row["reason"]
    if reason == "feedback" or row["engine"] == "ARF":
        return intake.kind is Kind.COMPLAINT
    if reason == "vacation":
        return intake.kind is Kind.AUTO_REPLY
    failure = intake.failures[index - 1] if intake.kind is Kind.BOUNCE and index <= len(intake.failures) else None
    if reason == "delivered":
        return failure is None
    if failure is None:
        return False
    hard = row["hard_bounce"].strip().lower() == "true"
    if (failure.verdict is Verdict.HARD) != hard:
        return False
    return not row["status"] or row["status"][0] == failure.status[0]


# An mbox "From_" line: "From sender  Thu Jul  2 12:05:05 2020" (the file holds one message after each).
_FROM_LINE = re.compile(rb"^From \S+ +[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \d{4}[ \t]*\r?$",
                        re.MULTILINE)


def read_sample(path: Path) -> Intake:
    """What intake makes of a sample file: one message, or an mbox of several, each parsed as intake would
    receive it (one at a time), their failed recipients in file order (the CSV counts them so)."""
    raw = path.read_bytes()
    starts = [m.start() for m in _FROM_LINE.finditer(raw)] if _FROM_LINE.match(raw) else [0]
    intakes = [parse(raw[start:end]) for start, end in zip(starts, [*starts[1:], len(raw)], strict=True)]
    bounces = [intake for intake in intakes if intake.kind is Kind.BOUNCE]
    if len(bounces) < 2:
        return bounces[0] if bounces else intakes[0]
    return replace(bounces[0], failures=tuple(failure for intake in bounces for failure in intake.failures))


def score(samples_dir: Path, expected_csv: Path) -> Score:
    """Parse every sample and score the results against the expected rows."""
    result = Score()
    files = sorted(p for p in samples_dir.iterdir() if p.is_file())
    not_bounces = samples_dir.parent / "not-bounces"
    extra = sorted(p for p in not_bounces.iterdir() if p.is_file()) if not_bounces.is_dir() else []
    intakes = {path.name: read_sample(path) for path in files}
    result.samples = len(files)
    for path in files:
        intake = intakes[path.name]
        if path.name.startswith("arf-"):
            result.arf_total += 1
            result.arf_recognised += intake.kind is Kind.COMPLAINT
        if path.name.startswith("rfc3834-") and intake.kind is Kind.BOUNCE:
            result.false_bounces += 1
            result.disagreements.append(f"{path.name}: an auto-reply read as a bounce ({intake.rule})")
    for path in extra:
        intake = read_sample(path)
        if intake.kind is Kind.BOUNCE:
            result.false_bounces += 1
            result.disagreements.append(f"not-bounces/{path.name}: read as a bounce ({intake.rule})")
    with expected_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    named = set()
    for row in rows:
        name = Path(row["file"]).name
        if name not in intakes:
            continue
        named.add(name)
        result.rows += 1
        intake = intakes[name]
        if _row_right(row, intake):
            result.right += 1
            continue
        expected = (f"{'hard' if row['hard_bounce'].lower() == 'true' else 'soft'} {row['status'] or '-'} "
                    f"({row['reason']})")
        why = REASONS.get(name, "no reason recorded")
        got = _got(intake, int(row["index"]))
        line = f"{name}#{row['index']}: sisimai {expected}; Kairan {got} [{intake.rule}]; why: {why}"
        result.disagreements.append(line)
    result.with_expectation = len(named)
    return result


def main() -> None:
    """Score the parser on a corpus and print the disagreements, then the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=Path, default=CORPUS / "samples")
    parser.add_argument("--expected", type=Path, default=CORPUS / "expected.csv")
    args = parser.parse_args()
    if not args.samples.is_dir() or not args.expected.is_file():
        raise SystemExit(f"No corpus at {args.samples} with {args.expected}: pass --samples DIR and --expected CSV "
                         "(the shared corpus is ../shared/testdata/bounces).")
    result = score(args.samples, args.expected)
    for line in result.disagreements:
        print(line)
    print(json.dumps(result.summary()))


if __name__ == "__main__":
    main()
