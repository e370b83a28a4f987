"""Benchmark: the bounce and complaint parser over a corpus of real messages with expected results.

Runs ``tracking.bounce_parser.parse`` over every file in the samples folder (and ``not-bounces/``
beside it, when there is one) and scores it against a CSV with the columns of the shared corpus's
``expected.csv`` (file, engine, index, status, reply_code, reason, hard_bounce, …, feedback_type):

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
from dataclasses import dataclass, field
from pathlib import Path

from tracking.bounce_parser import Intake, Kind, Verdict, parse

CORPUS = Path(__file__).resolve().parents[1].parent / "shared/testdata/bounces"

# Where Kairan knowingly decides otherwise than sisimai, and why (see the README's note on bounces).
_DELAY = "a delay warning (Action: delayed, 'only a temporary failure report'): Kairan reports it as temporary (4.x)"
_APPLIANCE = ("the refusal says the user is unknown; sisimai calls it filtered because a filtering appliance "
              "relayed it, Kairan believes the text (hard)")
_TEXT_SAYS_UNKNOWN = "the diagnostic itself says 'User Unknown': Kairan follows the text and code (hard)"
REASONS: dict[str, str] = {
    "rfc3834-06.eml": "an auto-reply (Auto-Submitted: auto-replied) saying the inbox is no longer used: "
                      "RFC 3834 says auto-replies are not bounces, so Kairan never suppresses on one",
    **dict.fromkeys([f"lhost-opensmtpd-{n}.eml" for n in ("04", "06", "12", "15", "16")] + ["lhost-gmail-08.eml"],
                    _DELAY),
    **dict.fromkeys([f"lhost-{name}.eml" for name in ("mcafee-01", "mcafee-04", "surfcontrol-01", "mfilter-01",
                                                       "mfilter-03", "x1-01", "x1-03", "activehunter-02",
                                                       "mailfoundry-01", "mxlogic-03")], _APPLIANCE),
    **dict.fromkeys([f"lhost-{name}.eml" for name in ("messagingserver-03", "messagingserver-06", "powermta-01",
                                                       "powermta-03", "amazonworkmail-02", "zoho-02", "x2-01",
                                                       "x2-02", "exchange2003-04")], _TEXT_SAYS_UNKNOWN),
    "lhost-x1-02.eml": _APPLIANCE,
    "lhost-apachejames-01.eml": "the same notice text as lhost-verizon-02 ('550 … no such user here'), which sisimai "
                                "calls userunknown: Kairan reads both alike (hard)",
    "lhost-exim-31.eml": "the only reason given is a hedge ('the account or domain may not exist, they may be "
                         "blacklisted, or missing the proper dns entries'): Kairan does not suppress on a guess (soft)",
    "rhost-aol-06.eml": "'Malformed or unexpected name server reply' is a name server that failed to answer, not a "
                        "domain that does not exist (sisimai agrees on the same text in lhost-postfix-17): soft",
    "rfc3464-01.eml": "the DSN's own Status and Diagnostic-Code say 5.1.1 User Unknown for this recipient; the "
                      "'Not enough disk space' text is about another, local recipient (<nekochan>)",
    "rfc3464-35.eml": "the DSN says '550 user unknown' for this recipient and nothing about a filter: hard",
    "rhost-cox-01.eml": "the file is two bounces one after the other (an mbox); intake receives one message at a "
                        "time and reads the first, so there is no second recipient",
    "lhost-trendmicro-03.eml": "the notice gives no reason ('Unable to deliver message to <…>'): nothing says the "
                               "address does not exist, so Kairan does not suppress at once (soft)",
    "lhost-postfix-05.eml": "a 450 4.1.1 reply is temporary (Postfix's soft_bounce / unknown-alias 4xx): Kairan "
                            "retries and counts it soft rather than suppressing",
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


def score(samples_dir: Path, expected_csv: Path) -> Score:
    """Parse every sample and score the results against the expected rows."""
    result = Score()
    files = sorted(p for p in samples_dir.iterdir() if p.is_file())
    not_bounces = samples_dir.parent / "not-bounces"
    extra = sorted(p for p in not_bounces.iterdir() if p.is_file()) if not_bounces.is_dir() else []
    intakes = {path.name: parse(path.read_bytes()) for path in files}
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
        intake = parse(path.read_bytes())
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
