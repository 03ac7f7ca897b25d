"""Counting records (by lines without quotes, by the csv module's rows with them) gives what
`data_records` yields."""

import itertools
import random

from toast_assets.lib.csvfile import LineEndings, count_data_records, data_records, line_endings

ALPHABET = ["a", "1", " ", "\t", ",", "\n", "\n", "é", "\u2028", "\x0b", "\x0c", "\x1c", "\x85", "\u3000"]


def _by_csv_module(text: str) -> int:
    return sum(1 for _ in data_records(text))


def test_line_count_matches_the_csv_module() -> None:
    rng = random.Random(20261123)
    for _ in range(20_000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 40)))
        assert count_data_records(text) == _by_csv_module(text), repr(text)


def test_counting_with_quotes_and_carriage_returns_matches_the_records() -> None:
    rng = random.Random(20261124)
    alphabet = [*ALPHABET, '"', '"', "\r", "\r\n", "\x00", " "]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert count_data_records(text) == _by_csv_module(text), repr(text)


def test_files_with_quotes_or_carriage_returns_use_the_csv_module() -> None:
    for text in ['h\n"a\nb",1\n\n2\n', "h\r\n1\r\n\r\n2", "h\n1\x002\n3", 'a,b\n"x",1\n', "h\r1\r2"]:
        assert count_data_records(text) == _by_csv_module(text), repr(text)


def test_edge_cases() -> None:
    for text, expected in [("", 0), ("\n", 0), ("h", 0), ("h\n", 0), ("h\n1", 1), (" , \n\nh\n\n1\n \n", 2), ("h\n1\n2\n", 2)]:
        assert count_data_records(text) == expected == _by_csv_module(text), repr(text)


def _style_by_lines(payload: bytes) -> str:
    """The line-ending styles of a payload, found by walking it byte by byte."""
    styles, position = set(), 0
    while position < len(payload):
        if payload[position : position + 2] == b"\r\n":
            styles.add("crlf")
            position += 2
            continue
        if payload[position : position + 1] in (b"\r", b"\n"):
            styles.add("cr" if payload[position : position + 1] == b"\r" else "lf")
        position += 1
    return "lf" if not styles else styles.pop() if len(styles) == 1 else "mixed"


def test_line_endings_read_block_by_block_match_the_whole_file() -> None:
    """The raw load learns a file's line endings from the blocks it hashes: a `\\r\\n` cut
    between two blocks, or a `\\r` ending the file, must not change the answer."""
    payloads = [b"".join(p) for n in range(7) for p in itertools.product([b"a", b"\r", b"\n"], repeat=n)]
    for payload in payloads:
        expected = _style_by_lines(payload)
        assert line_endings(payload) == expected, payload
        for first, second in itertools.combinations_with_replacement(range(len(payload) + 1), 2):
            blocks = (payload[:first], payload[first:second], payload[second:])
            endings = LineEndings()
            for block in blocks:
                endings.update(block)
            assert endings.style == expected, (payload, blocks)
