"""Reading CSV files as Japanese offices save them: encoding and delimiter detection, preview."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from typing import IO

from charset_normalizer import from_bytes

SAMPLE_BYTES = 256 * 1024  # enough rows to detect encoding and delimiter, small enough to read at once
DELIMITERS = ",;\t|"
# Encodings offered in the preview, for when detection guessed wrong.
ENCODINGS = ("utf-8", "utf-8-sig", "cp932", "euc_jp", "iso2022_jp", "latin-1")


def detect_encoding(sample: bytes) -> str:
    """Tell the encoding: UTF-8 (with or without BOM) or CP932 as Excel writes, else the best guess."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ("utf-8", "cp932"):
        try:
            # final=False: the sample may end inside a multi-byte character.
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    best = from_bytes(sample).best()
    return best.encoding if best is not None else "utf-8"


def detect_delimiter(text: str) -> str:
    """Tell the delimiter from a decoded sample (comma unless another one is clearly used)."""
    try:
        return csv.Sniffer().sniff(text[:64 * 1024], delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def decode_sample(sample: bytes, encoding: str) -> str:
    """Decode a sample, dropping a multi-byte character cut at its end."""
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)


def preview(sample: bytes, encoding: str, delimiter: str, rows: int = 10) -> list[list[str]]:
    """Return the first rows (header included) of a file's first bytes, as the import will read them."""
    lines = decode_sample(sample, encoding).splitlines()
    return [row for row, _ in zip(csv.reader(lines, delimiter=delimiter), range(rows + 1), strict=False)]


class LineCount:
    """Counts a file's lines as its chunks go by (for the progress bar; quoted newlines make it an estimate)."""

    def __init__(self) -> None:
        self.newlines = 0
        self.last = b"\n"

    def through(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield the chunks, counting them."""
        for chunk in chunks:
            self.newlines += chunk.count(b"\n")
            self.last = chunk[-1:] or self.last
            yield chunk

    @property
    def lines(self) -> int:
        """The lines seen, the last one counted without its line break too."""
        return self.newlines + (0 if self.last == b"\n" else 1)


def rows(binary: IO[bytes], encoding: str, delimiter: str) -> Iterator[tuple[int, list[str] | None, str]]:
    """Yield (line number, row, problem) for every record of a binary stream; a record the CSV parser cannot
    read has row None.

    Undecodable bytes become U+FFFD, so one bad row is reported instead of stopping the import.
    """
    with io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="") as text:
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield line, None, str(error)
                continue
            yield line, row, ""
