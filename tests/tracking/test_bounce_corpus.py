"""Kairan's own bounce corpus: notices written here in the style of each MTA's documented format.

Held out from tuning: each sample in ``bounce_corpus/`` was written, with what it must give in
``bounce_corpus/expected.csv``, before the parser was changed for it. A sample states every failed
recipient it reports (file, index), the verdict and the status (a class "5", or the code a notice
states); ``not-bounce`` samples (challenge-response mail, a person's reply) must not be bounces.

Samples passing when each batch was written, before the parser was tuned on it: the first batch
14 of 32; ``b2-`` 18 of 20, ``b3-`` 11 of 12, ``b4-`` 9 of 10 (each after the fixes for the batches
before it); ``b5-`` was written to show a class failing before its fix, so is not held out.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from tracking.bounce_parser import Kind, parse

CORPUS = Path(__file__).with_name("bounce_corpus")


def _expected() -> dict[str, list[dict[str, str]]]:
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (CORPUS / "expected.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows[row["file"]].append(row)
    return dict(rows)


EXPECTED = _expected()


def test_every_sample_has_an_expectation() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name: str) -> None:
    rows = sorted(EXPECTED[name], key=lambda row: int(row["index"]))
    intake = parse((CORPUS / name).read_bytes())
    if rows[0]["kind"] == "not-bounce":
        assert intake.kind is not Kind.BOUNCE, intake
        return
    assert intake.kind is Kind.BOUNCE, intake
    got = [(f.address, f.verdict.value, f.status) for f in intake.failures]
    want = [(row["address"], row["verdict"], row["status"]) for row in rows]
    # the status as precise as the sample states it: a class ("5") or a code ("5.1.1")
    got = [(address, verdict, status[:len(w[2])]) for (address, verdict, status), w in zip(got, want, strict=False)] \
        + got[len(want):]
    assert got == want, intake.failures
