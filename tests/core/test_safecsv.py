"""The one CSV writer: no cell a spreadsheet would run as a formula, and the apostrophe comes off again."""

from __future__ import annotations

import csv
import io

import pytest

from core.safecsv import SafeWriter, restored
from tests.helpers import FORMULAS


@pytest.mark.parametrize("cell", FORMULAS)
def test_a_formula_cell_is_written_as_text_and_read_back_as_it_was(cell: str) -> None:
    buffer = io.StringIO()
    SafeWriter(buffer).writerows([[cell, "taro"]])
    (written,) = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert written == ["'" + cell, "taro"]  # the apostrophe: Excel and LibreOffice show it as text
    assert restored(written[0]) == cell


def test_other_cells_are_unchanged_and_apostrophes_round_trip() -> None:
    buffer = io.StringIO()
    SafeWriter(buffer, lineterminator="\n").writerow(["taro", 7, -3, "'quoted", "'=1", ""])
    assert buffer.getvalue() == "taro,7,-3,'quoted,''=1,\n"  # numbers are numbers, never formulas
    row = next(csv.reader(io.StringIO(buffer.getvalue())))
    assert [restored(cell) for cell in row] == ["taro", "7", "-3", "'quoted", "'=1", ""]
