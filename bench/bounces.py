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
- address_accuracy: share of rows naming a failed (or, for ARF, complained-about) recipient where
  Kairan names the same address at that index (delivered and auto-reply rows name no failure).
- arf_total / arf_recognised: ``arf-*`` samples, and those read as complaints.
- false_bounces: auto-replies (``rfc3834-*``) and ``not-bounces/`` read as bounces.

- parse_cpu_seconds / ms_per_message: CPU time spent reading and parsing the files, for speed.

Each disagreement is printed first, one line each, with Kairan's reason where one is recorded in
bounces_disagreements.csv beside this file ("no reason recorded" otherwise, counted as
``unexplained``); the JSON line comes last. Without the corpus it prints a JSON line saying why
it skipped.
Run: .venv/bin/python -m bench.bounces [--samples DIR] [--expected CSV]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tracking.bounce_parser import Intake, Kind, Verdict, parse

CORPUS = Path(__file__).resolve().parents[1].parent / "shared/testdata/bounces"

# Where Kairan knowingly decides otherwise than sisimai, and why: one row per sample and check
# ("verdict": kind, hard/soft and status class; "address": the failed or complained-about recipient).
KNOWN_DISAGREEMENTS = Path(__file__).with_name("bounces_disagreements.csv")


def known_disagreements(path: Path = KNOWN_DISAGREEMENTS) -> dict[tuple[str, str], str]:
    """The recorded reasons, by (sample file name, check)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {(row["file"], row["check"]): row["reason"] for row in csv.DictReader(handle)}


@dataclass
class Score:
    """What a run over a corpus found."""

    samples: int = 0
    not_bounces: int = 0
    with_expectation: int = 0
    rows: int = 0
    right: int = 0
    address_rows: int = 0
    address_right: int = 0
    arf_total: int = 0
    arf_recognised: int = 0
    false_bounces: int = 0
    seconds: float = 0.0
    disagreements: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of expected rows whose verdict Kairan got right."""
        return round(self.right / self.rows, 4) if self.rows else 0.0

    @property
    def address_accuracy(self) -> float:
        """Share of expected rows naming an address where Kairan names the same recipient at that index."""
        return round(self.address_right / self.address_rows, 4) if self.address_rows else 0.0

    def summary(self) -> dict[str, object]:
        """The JSON figures."""
        return {"samples": self.samples, "not_bounces": self.not_bounces, "with_expectation": self.with_expectation,
                "accuracy": self.accuracy,
                "address_accuracy": self.address_accuracy, "address_rows": self.address_rows,
                "arf_total": self.arf_total, "arf_recognised": self.arf_recognised,
                "false_bounces": self.false_bounces, "disagreements": len(self.disagreements),
                "unexplained": sum("no reason recorded" in line for line in self.disagreements),
                "parse_cpu_seconds": round(self.seconds, 3),
                "ms_per_message": round(1000 * self.seconds / (self.samples + self.not_bounces), 3)
                if self.samples + self.not_bounces else 0.0}


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


def _named(row: dict[str, str], intake: Intake) -> str | None:
    """The recipient Kairan names at the row's index: the failed one, or for ARF the complained-about one."""
    index = int(row["index"])
    if row["reason"] == "feedback" or row["engine"] == "ARF":
        named = intake.complained if intake.kind is Kind.COMPLAINT else ()
    else:
        named = tuple(f.address for f in intake.failures) if intake.kind is Kind.BOUNCE else ()
    return named[index - 1] if index <= len(named) else None


def _address_checked(row: dict[str, str]) -> bool:
    """A row that names a recipient Kairan must name too (not a delivery or an auto-reply: no failure there)."""
    return bool(row.get("address", "").strip()) and row["reason"] not in ("delivered", "vacation")


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


def score(samples_dir: Path, expected_csv: Path, known: dict[tuple[str, str], str] | None = None) -> Score:
    """Parse every sample and score the results against the expected rows (``known``: recorded reasons)."""
    known = known_disagreements() if known is None else known
    result = Score()
    files = sorted(p for p in samples_dir.iterdir() if p.is_file())
    not_bounces = samples_dir.parent / "not-bounces"
    extra = sorted(p for p in not_bounces.iterdir() if p.is_file()) if not_bounces.is_dir() else []
    started = time.process_time()  # CPU time: the machine may be busy with other work
    intakes = {path.name: read_sample(path) for path in files}
    extra_intakes = {path.name: read_sample(path) for path in extra}
    result.seconds = time.process_time() - started
    result.samples, result.not_bounces = len(files), len(extra)
    for path in files:
        intake = intakes[path.name]
        if path.name.startswith("arf-"):
            result.arf_total += 1
            result.arf_recognised += intake.kind is Kind.COMPLAINT
        if path.name.startswith("rfc3834-") and intake.kind is Kind.BOUNCE:
            result.false_bounces += 1
            result.disagreements.append(f"{path.name}: an auto-reply read as a bounce ({intake.rule})")
    for name, intake in extra_intakes.items():
        if intake.kind is Kind.BOUNCE:
            result.false_bounces += 1
            result.disagreements.append(f"not-bounces/{name}: read as a bounce ({intake.rule})")
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
        else:
            expected = (f"{'hard' if row['hard_bounce'].lower() == 'true' else 'soft'} {row['status'] or '-'} "
                        f"({row['reason']})")
            why = known.get((name, "verdict"), "no reason recorded")
            got = _got(intake, int(row["index"]))
            result.disagreements.append(f"{name}#{row['index']}: sisimai {expected}; Kairan {got} [{intake.rule}]; "
                                        f"why: {why}")
        if not _address_checked(row):
            continue
        result.address_rows += 1
        address = _named(row, intake)
        if address == row["address"].strip().lower():
            result.address_right += 1
        else:
            why = known.get((name, "address"), "no reason recorded")
            result.disagreements.append(f"{name}#{row['index']}: sisimai names <{row['address']}>; Kairan "
                                        f"{'<' + address + '>' if address else 'none'} [{intake.rule}]; why: {why}")
    result.with_expectation = len(named)
    return result


def main() -> None:
    """Score the parser on a corpus and print the disagreements, then the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=Path, default=CORPUS / "samples")
    parser.add_argument("--expected", type=Path, default=CORPUS / "expected.csv")
    args = parser.parse_args()
    if not args.samples.is_dir() or not args.expected.is_file():
        # not a failure: the corpus is third-party data kept beside the repository, not in it
        print(json.dumps({"skipped": f"no corpus at {args.samples} with {args.expected}: pass --samples DIR and "
                                     "--expected CSV (the shared corpus is ../shared/testdata/bounces)"}))
        return
    result = score(args.samples, args.expected)
    for line in result.disagreements:
        print(line)
    print(json.dumps(result.summary()))


if __name__ == "__main__":
    main()
