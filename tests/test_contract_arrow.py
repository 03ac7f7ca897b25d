"""The contract checks give the same answers on Arrow-backed frames as on Python-object frames.

The raw load hands Pandera Arrow-backed columns (cheap to take out of DuckDB) and tests ids
with Arrow's RE2 engine; a rule must never pass or fail a value depending on which it got.
"""

import re

import pandas as pd
import pyarrow as arrow
import pyarrow.compute as arrow_compute
import pytest

from toast_assets.contract import BY_ENTITY
from toast_assets.contract.values import BOOLEAN, DECIMAL, DURATION, ID, INTEGER, ISO_TIMESTAMP
from toast_assets.quality.contract_schema import _re2_pattern, contract_failures

TRICKY = [
    "1300000015734303122", "0", "", " ", "12a", " 5", "5 ", "١٢", "３", "12\n", "\n12", "1e5", "-1", "+1", "1.0", "1.00",
    "-0.0", "$1,020.00", "($5.00)", "-$5.00", "$-5.00", "1,00.0", "99999999999999999999", "true", "TRUE ", "False",
    "truee", "2026-10-08T17:18:00Z", "2026-10-08 17:18", "2026-10-08T17:18:00+0200", "10/8/26 5:18 PM", "2/30/26 5:18 PM",
    "13/45/26 1:00 PM", "1 hour, 2 minutes and 6 seconds", "01:02:03", "é", "\x00", "12\x00", ".", ".5", "5.", "$.5",
    "( 5 )", "(5", "1,000,000.25", "1,0000", "$ - 5", "--5",
]  # fmt: skip


@pytest.mark.parametrize("regex", [ID, INTEGER, ISO_TIMESTAMP, DECIMAL, BOOLEAN, DURATION], ids=lambda r: r.pattern[:24])
def test_re2_translation_matches_python_or_is_not_used(regex: re.Pattern) -> None:
    translated = _re2_pattern(regex)
    if translated is None:
        return  # the rule stays with Python's engine
    arrow_says = arrow_compute.match_substring_regex(arrow.array(TRICKY, arrow.string()), translated).to_pylist()
    python_says = [regex.match(value) is not None for value in TRICKY]
    assert arrow_says == python_says


def test_ids_and_amounts_use_re2_and_lookaround_patterns_do_not() -> None:
    assert _re2_pattern(ID) is not None
    assert _re2_pattern(DECIMAL) is not None
    assert _re2_pattern(re.compile(r"^(?=[0-9.]*[0-9])[0-9.]+\Z")) is None  # lookahead
    assert _re2_pattern(BOOLEAN) is None  # IGNORECASE stays with Python's case folding


# pandas hashes Python-object strings as C strings, so `unique`/`isin` on object columns take
# "12\x00" for "12" (the Arrow path does not); the parity test leaves NUL bytes out.
NO_NUL = [value for value in TRICKY if "\x00" not in value]


def _frames(entity: str, rows: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    toast_file = BY_ENTITY[entity]
    data: dict[str, list] = {}
    for number, column in enumerate(toast_file.columns):
        data[column.name] = [NO_NUL[(i * 7 + number) % len(NO_NUL)] if i % 3 else None for i in range(rows)]
    # A clean, unique natural key for most rows, one repeated key.
    for key in toast_file.natural_key:
        data[key] = [str(1000 + i) for i in range(rows)]
        data[key][5] = data[key][4]
    data["_location_id"] = ["185129"] * rows
    data["_business_date"] = [pd.Timestamp("2026-10-08").date()] * rows
    data["_source_file"] = ["toast/x.csv"] * rows
    data["_row_number"] = list(range(1, rows + 1))
    objects = pd.DataFrame(data)
    arrow_backed = arrow.Table.from_pandas(objects, preserve_index=False).to_pandas(types_mapper=pd.ArrowDtype)
    return objects, arrow_backed


@pytest.mark.parametrize("entity", sorted(BY_ENTITY))
def test_failures_are_the_same_on_arrow_frames(entity: str) -> None:
    objects, arrow_backed = _frames(entity)
    expected = sorted((f.index, f.column, f.rule, f.value) for f in contract_failures(BY_ENTITY[entity], objects))
    assert expected, "the frame must break some rules for the comparison to mean anything"
    assert sorted((f.index, f.column, f.rule, f.value) for f in contract_failures(BY_ENTITY[entity], arrow_backed)) == expected


@pytest.mark.parametrize("entity", sorted(BY_ENTITY))
def test_told_keys_do_not_repeat_the_checks_find_the_same_value_failures(entity: str) -> None:
    """`keys_repeat=False` (the warehouse counted no repeated natural key) drops only the key
    rule: every other failure is found as before, and a repeat, if one were there, is not."""
    toast_file = BY_ENTITY[entity]
    _, frame = _frames(entity)
    everything = {(f.index, f.column, f.rule, f.value) for f in contract_failures(toast_file, frame)}
    assert any(rule == "natural_key_unique" for _, _, rule, _ in everything) == bool(toast_file.natural_key)
    without_keys = {(f.index, f.column, f.rule, f.value) for f in contract_failures(toast_file, frame, keys_repeat=False)}
    assert without_keys == {f for f in everything if f[2] != "natural_key_unique"}
