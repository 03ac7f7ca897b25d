"""Counting records (by lines without quotes, by the csv module's rows with them) gives what
`data_records` yields."""

import random

from toast_assets.lib.csvfile import count_data_records, data_records

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
