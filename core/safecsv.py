"""Every CSV Kairan writes goes through this writer: no cell is a formula when a spreadsheet opens it.

A text cell starting with =, +, -, @, a tab, CR or LF is a formula to Excel and LibreOffice (CSV
injection: ``=HYPERLINK(…)`` in a subscriber's name, a bad import row, a link). Such a cell is
written with an apostrophe in front, as OWASP advises. So that the apostrophe can be taken off
again (``restored``, for files Kairan reads back), a cell that already starts with apostrophes
before such a character gets one more.

Every download is UTF-8 with a BOM (so Excel reads it as UTF-8) or CP932 (Shift_JIS, for older Excel on
Japanese Windows), streamed by ``csv_stream``; every export reads which one was asked for with ``chosen_encoding``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

from flask_babel import gettext as _

from core.errors import NotAChoiceError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
EXPORT_ENCODINGS = {"utf-8": "utf-8-sig", "cp932": "cp932"}  # BOM so Excel reads UTF-8 as UTF-8
# The charset each export encoding is, by its IANA name: CP932 is registered as Windows-31J.
CHARSETS = {"utf-8": "utf-8", "cp932": "Windows-31J"}


def chosen_encoding(args: Mapping[str, Any]) -> str:
    """The export encoding a query string or form asks for (``encoding``; UTF-8 when empty). Any other value is
    refused, naming the choices, rather than quietly exported as UTF-8: who asked for another expects it."""
    encoding = args.get("encoding") or "utf-8"
    if encoding not in EXPORT_ENCODINGS:
        raise NotAChoiceError(_("encoding must be one of: %(allowed)s (cp932 is Shift_JIS, for older Excel).",
                                allowed=", ".join(EXPORT_ENCODINGS)), field="encoding")
    return str(encoding)


def safe_cell(value: Any) -> Any:
    """Return a cell as it is safe to write: text a spreadsheet would run gets an apostrophe in front."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value  # numbers and other text are never formulas


def restored(cell: str) -> str:
    """Return a cell read back from a file this module wrote, as it was before safe_cell."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_STARTS) else cell


class SafeWriter:
    """csv.writer's writerow and writerows, each cell through safe_cell."""

    def __init__(self, file: IO[str], **fmtparams: Any) -> None:
        self._writer = csv.writer(file, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row."""
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write rows."""
        self._writer.writerows([safe_cell(value) for value in row] for row in rows)


def csv_stream(header: Sequence[str], batches: Iterable[Iterable[Sequence[Any]]], encoding: str) -> Iterator[bytes]:
    """Yield a CSV, one chunk per batch of rows, each cell formula-safe; characters CP932 lacks become ?."""
    codec = EXPORT_ENCODINGS[encoding]
    buffer = io.StringIO()
    writer = SafeWriter(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue().encode(codec, errors="replace")
    for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(rows)
        # After the header the BOM must not repeat: encode with the plain codec.
        yield buffer.getvalue().encode("utf-8" if codec == "utf-8-sig" else codec, errors="replace")
