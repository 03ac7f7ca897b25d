"""What a record of a delivered CSV file is, decided once by Python's `csv` module.

Landing counts records with it (the reconciliation's "source rows"), the raw load finds the
header and numbers rows with it, and a file rejected as a whole is quarantined record by
record with it. Keeping one definition is what lets "loaded + quarantined = source" hold for
any bytes, not only for well-formed exports:

- the header is the first row with a non-blank cell (blank lines before it are skipped);
- every later non-empty row is a record, numbered from 1, blank lines skipped;
- row positions are counted like DuckDB's reject `line`: every CSV row of the file, blank
  ones included, from 1.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# The csv module refuses a field over 128 KiB by default (`_csv.Error: field larger than field
# limit`), which crashed landing on a huge cell or on a stray quote that turns the rest of a
# file into one field. Such a record must be counted (the warehouse quarantines it), not be
# fatal. Process-wide by design of the csv module; 2**31 - 1 is the largest value every
# platform accepts.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


def decode(payload: bytes, encoding: str) -> str:
    """Text of a file in its detected encoding; undecodable bytes kept as surrogate escapes,
    so record boundaries (ASCII) are found whatever else the file holds."""
    if encoding.startswith("utf-8"):
        return payload.decode(encoding, errors="surrogateescape")
    return payload.decode(encoding, errors="replace")


def csv_rows(text: str) -> Iterator[list[str]]:
    """Every CSV row of the text, blank lines included (as `[]`); never raises on odd quoting."""
    return csv.reader(io.StringIO(text, newline=""), strict=False)


def is_blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


@dataclass(frozen=True)
class CsvLayout:
    """Where the header and the records of a file are, as CSV row positions (from 1)."""

    header: list[str] | None
    header_line: int  # row position of the header; 0 when the file has none
    record_lines: list[int] = field(default_factory=list)  # row position of record 1, 2, ...

    @property
    def records(self) -> int:
        return len(self.record_lines)


def layout(text: str) -> CsvLayout:
    header: list[str] | None = None
    header_line = 0
    lines: list[int] = []
    for position, row in enumerate(csv_rows(text), start=1):
        if header is None:
            if not is_blank(row):
                header, header_line = row, position
        elif row:
            lines.append(position)
    return CsvLayout(header=header, header_line=header_line, record_lines=lines)


def data_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(record number, fields) of every record after the header."""
    header_seen = False
    number = 0
    for row in csv_rows(text):
        if not header_seen:
            header_seen = not is_blank(row)
            continue
        if row:
            number += 1
            yield number, row


def count_data_records(text: str) -> int:
    """How many records `data_records` yields, counted at C speed."""
    if '"' in text or "\r" in text or "\x00" in text:
        rows = csv_rows(text)
        for row in rows:
            if not is_blank(row):  # the header
                return sum(map(bool, rows))  # records: the non-empty rows after it
        return 0
    # Without a quote, a carriage return or a NUL, a CSV row is exactly a `\n`-separated line,
    # so the same count comes from splitting lines (C speed; the csv module reads ~60 MB/s).
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # after the last line terminator: no row
    for position, line in enumerate(lines):
        if line.replace(",", "").strip():  # the header: a row with a non-blank cell
            return sum(map(bool, lines[position + 1 :]))  # records: the non-empty rows after it
    return 0


def line_endings(payload: bytes) -> str:
    """`lf`, `crlf`, `cr`, or `mixed` (more than one style anywhere in the file, quoted
    cells included). DuckDB's strict CSV reader stops on a file of mixed style."""
    return LineEndings().update(payload).style


class LineEndings:
    """`line_endings` of a file read block by block.

    Most files hold no `\r` at all: such a block is searched once for it and once for a
    `\n`. A `\r` ending a block is held for the next, where its `\n` may be.
    """

    def __init__(self) -> None:
        self.cr = self.lf = self.crlf = 0  # counted in blocks holding a `\r`
        self._lf_alone = False  # a `\n` in a block without `\r`: one that ends no `\r\n`
        self._held = b""

    def update(self, block: bytes) -> "LineEndings":
        block, self._held = self._held + block, b""
        if block.endswith(b"\r"):
            block, self._held = block[:-1], b"\r"
        cr = block.count(b"\r")
        if cr:
            self.cr += cr
            self.lf += block.count(b"\n")
            self.crlf += block.count(b"\r\n")
        elif b"\n" in block:
            self._lf_alone = True
        return self

    @property
    def style(self) -> str:
        cr = self.cr + len(self._held)
        if not cr:
            return "lf"
        if self._lf_alone:
            return "mixed"
        if not self.lf:
            return "cr"
        return "crlf" if self.crlf == cr == self.lf else "mixed"


def write_normalized(source: str | Path, encoding: str, target: str | Path) -> None:
    """Rewrite a file as the csv module reads it: header, then one `\\n`-terminated row per
    record, every cell quoted, same encoding, undecodable bytes kept byte for byte.

    For the warehouse reader only (the lake keeps the delivered bytes): a file it cannot
    read as delivered is read in this form, with the same records in the same order.
    """
    text = decode(Path(source).read_bytes(), encoding)
    shape = layout(text)
    out_encoding = "utf-8" if encoding.startswith("utf-8") else encoding
    with open(target, "w", encoding=out_encoding, errors="surrogateescape", newline="") as handle:
        # Every cell quoted: minimal quoting leaves a lone `\r` bare, which is the very mixed
        # line ending this form exists to remove. A quoted empty cell still reads as NULL.
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)
        if shape.header is not None:
            writer.writerow(shape.header)
        for _, row in data_records(text):
            writer.writerow(row)
