"""Pandera schemas for the raw tables, generated from the Toast file contract.

Each raw table holds text; its schema says which text is acceptable for each logical type
(ids are digits, timestamps match a known format, money parses, booleans are true/false)
and that the natural key is unique per location and business date. Rows that break a rule
are moved to quarantine with the rule's name; nothing is silently coerced.
"""

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow
import pyarrow.compute as arrow_compute
from pandera.errors import SchemaErrors

from toast_assets.contract import LogicalType, ToastFile, normalize_header
from toast_assets.contract.values import (
    BOOLEAN,
    DATE_FORMATS,
    DECIMAL,
    DURATION,
    ID,
    INTEGER,
    ISO_TIMESTAMP,
    TIME_FORMATS,
    TIMESTAMP_FORMATS,
)

LINEAGE_KEY = ("_location_id", "_business_date")
RULE_NATURAL_KEY = "natural_key_unique"
RULE_HEADER_REPEATED = "header_repeated"


# The common timestamp shapes, accepted by pattern alone (fast). Only days 1-28 exist in every
# month: a later day goes through the formats below, which know the calendar (`2/30/26` is
# no date; the shape alone once let it through to be NULL in staging). ASCII digits only.
_TIMESTAMP_SHAPE = re.compile(
    r"^(0?[1-9]|1[0-2])/(0?[1-9]|1[0-9]|2[0-8])/([0-9]{2}|[0-9]{4}) "
    r"(((0?[1-9]|1[0-2]):[0-5][0-9](:[0-5][0-9])? [AP]M)|(([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?))\Z"
)
_ISO_TIME = re.compile(r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?")


def _iso_date_exists(text: str) -> bool:
    """An ISO-shaped timestamp names a real date and time (staging reads it without the offset)."""
    time = _ISO_TIME.match(text, 11)
    try:
        datetime.fromisoformat(f"{text[:10]} {time.group(0) if time else ''}".strip())
    except ValueError:
        return False
    return True


def _parses(values: pd.Series, formats: tuple[str, ...], iso: bool) -> pd.Series:
    """True where a value matches one of the formats; tries each format on what is left.

    Only spaces are trimmed, as SQL `trim` does in staging.
    """
    text = values.str.strip(" ").str.upper()
    ok = pd.Series(False, index=values.index)
    if iso:
        shaped = values.str.strip(" ").str.match(ISO_TIMESTAMP.pattern, flags=ISO_TIMESTAMP.flags).fillna(False)
        ok |= shaped & values.where(shaped, "").str.strip(" ").map(_iso_date_exists).astype(bool)
    for fmt in formats:
        pending = ~ok
        if not pending.any():
            break
        parsed = pd.to_datetime(text[pending], format=fmt, errors="coerce")
        ok.loc[pending] = parsed.notna()
    return ok


def _on_distinct(check: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """Evaluate a value rule once per distinct value: Toast columns repeat values heavily."""

    vectorized = getattr(check, "arrow", None)

    def run(series: pd.Series) -> pd.Series:
        if isinstance(series.dtype, pd.ArrowDtype):
            # The raw load's frames are Arrow-backed: the distinct values come from Arrow's
            # arrays directly, and stay there when the rule has an Arrow form.
            distinct = arrow_compute.unique(arrow.array(series.array)).drop_null()
            if len(distinct) == 0:
                return pd.Series(True, index=series.index)
            if vectorized is not None:
                # Ids are all distinct: test them in Arrow's regex engine, not one Python call each.
                ok = vectorized(distinct)
            else:
                ok = check(pd.Series(distinct.to_numpy(zero_copy_only=False), dtype=object)).to_numpy(dtype=bool)
            bad = distinct.filter(arrow.array(~ok)).to_pylist()
        else:
            values = series.dropna().unique()
            if len(values) == 0:
                return pd.Series(True, index=series.index)
            bad = values[~check(pd.Series(values, dtype=object)).to_numpy(dtype=bool)]
        # The few bad values are looked up, not the many good ones; NULL passes.
        return pd.Series(True, index=series.index) if len(bad) == 0 else ~series.isin(bad)

    return run


def _timestamps_ok(values: pd.Series) -> pd.Series:
    # The common shapes by pattern (fast); anything else is tried against each format.
    shaped = values.str.strip(" ").str.upper().str.match(_TIMESTAMP_SHAPE.pattern).fillna(False)
    rest = ~shaped
    if rest.any():
        shaped.loc[rest] = _parses(values[rest], TIMESTAMP_FORMATS, iso=True)
    return shaped


def _pattern(regex: re.Pattern) -> Callable[[pd.Series], pd.Series]:
    def check(values: pd.Series) -> pd.Series:
        return values.str.match(regex.pattern, flags=regex.flags).fillna(False)

    re2 = _re2_pattern(regex)
    if re2 is not None:
        check.arrow = lambda values: arrow_compute.match_substring_regex(values, re2).to_numpy(zero_copy_only=False)  # type: ignore[attr-defined]
    return check


def _re2_pattern(regex: re.Pattern) -> str | None:
    r"""The same pattern for Arrow's RE2 engine, or None when RE2 might answer differently.

    Only flag-free patterns of ASCII classes qualify: Python's `\d`, `\w`, `\s`, `\b` are
    Unicode-aware and its `$` also matches before a final newline, RE2 has no lookaround, and
    Python's `\Z` (end of text) is RE2's `\z`.
    """
    pattern = regex.pattern
    if regex.flags & ~re.UNICODE or re.search(r"\\[dwsbDWSB]|(?<!\\)\$|\(\?[=!<]", pattern):
        return None
    translated = pattern.replace(r"\Z", r"\z")
    if not translated.startswith("^"):
        translated = f"^(?:{translated})"  # `str.match` anchors at the start; RE2 searches
    try:
        arrow_compute.match_substring_regex(arrow.array([""], arrow.string()), translated)
    except (arrow.ArrowInvalid, arrow.ArrowNotImplementedError):
        return None
    return translated


# Rule name, meaning and test per logical type; NULL (an empty cell) always passes these.
VALUE_RULES: dict[LogicalType, tuple[str, str, Callable[[pd.Series], pd.Series]]] = {
    LogicalType.ID: ("id_digits", "ids are digits only", _pattern(ID)),
    LogicalType.DECIMAL: ("decimal_parses", "not a decimal amount", _pattern(DECIMAL)),
    LogicalType.INT: ("integer_parses", "not a whole number", _pattern(INTEGER)),
    LogicalType.BOOL: ("boolean_parses", "not true/false", _pattern(BOOLEAN)),
    LogicalType.DURATION: ("duration_parses", "not a duration", _pattern(DURATION)),
    LogicalType.TIMESTAMP: ("timestamp_parses", "timestamp in no known format", _timestamps_ok),
    LogicalType.DATE: ("date_parses", "date in no known format", lambda s: _parses(s, DATE_FORMATS, iso=False)),
    LogicalType.TIME: ("time_parses", "time in no known format", lambda s: _parses(s, TIME_FORMATS, iso=False)),
}
RULE_DESCRIPTIONS = {name: text for name, text, _ in VALUE_RULES.values()} | {
    RULE_NATURAL_KEY: "natural key repeated for the location and business date (first row kept)",
    RULE_HEADER_REPEATED: "the header row again inside the file (two exports appended into one)",
    "required_value_missing": "a required id or key column is empty",
}


def _value_check(column_type: LogicalType) -> pa.Check | None:
    rule = VALUE_RULES.get(column_type)
    if rule is None:
        return None
    name, _, check = rule
    return pa.Check(_on_distinct(check), name=name)


@functools.cache
def raw_schema(toast_file: ToastFile, keys_repeat: bool = True) -> pa.DataFrameSchema:
    """The table's contract; without `keys_repeat`, without the natural key's uniqueness.

    Built once per table: the raw load checks a run's rows in many frames.
    """
    columns = {}
    for column in toast_file.columns:
        check = _value_check(column.type)
        # A required id or key column must hold a value; other columns may be empty.
        must_have_value = column.required and (column.type == LogicalType.ID or column.name in toast_file.natural_key)
        columns[column.name] = pa.Column(
            # No dtype check: raw columns are text by construction, and checking it per cell
            # costs more than every value rule together.
            None, checks=[check] if check else [], nullable=not must_have_value, required=False, coerce=False
        )
    return pa.DataFrameSchema(
        columns=columns,
        unique=[*LINEAGE_KEY, *toast_file.natural_key] if keys_repeat else None,
        report_duplicates="exclude_first",
        name=toast_file.entity,
        strict=False,
    )


@dataclass(frozen=True)
class RowFailure:
    index: int
    column: str
    rule: str
    value: str


def contract_failures(toast_file: ToastFile, frame: pd.DataFrame, *, keys_repeat: bool = True) -> list[RowFailure]:
    """Every (row, rule) the frame breaks; the frame's index identifies the rows.

    `keys_repeat=False` is for a caller that already knows no natural key repeats among the
    rows (the raw load counts repeats in the warehouse): the schema then skips that rule.
    """
    if frame.empty:
        return []
    try:
        raw_schema(toast_file, keys_repeat).validate(frame, lazy=True)
    except SchemaErrors as errors:
        failures = _failures(errors.failure_cases)
    else:
        return []
    # A header row inside the data breaks every typed column at once; name the real cause.
    repeated = _repeated_headers(toast_file, frame, {f.index for f in failures})
    if not repeated:
        return failures
    return [f for f in failures if f.index not in repeated] + [
        RowFailure(index=index, column="row", rule=RULE_HEADER_REPEATED, value="the header row again")
        for index in sorted(repeated)
    ]


def rule_columns(toast_file: ToastFile) -> list[str]:
    """The columns the contract's rules read: typed, required and key columns, and the lineage key.

    A repeated header row is recognised by these columns alone (each holds its header's text).
    """
    schema = raw_schema(toast_file)
    read = [name for name, column in schema.columns.items() if column.checks or not column.nullable]
    return [*LINEAGE_KEY, *(name for name in dict.fromkeys([*read, *toast_file.natural_key]) if name not in LINEAGE_KEY)]


class ContractChecks:
    """The contract as the raw load runs it: the columns it reads, then the checks (`RowValidator`)."""

    def columns(self, toast_file: ToastFile) -> list[str]:
        return rule_columns(toast_file)

    def __call__(self, toast_file: ToastFile, frame: pd.DataFrame, *, keys_repeat: bool = True) -> list[RowFailure]:
        return contract_failures(toast_file, frame, keys_repeat=keys_repeat)


CONTRACT_CHECKS = ContractChecks()


def _repeated_headers(toast_file: ToastFile, frame: pd.DataFrame, candidates: set[int]) -> set[int]:
    """The candidate rows whose every contract value (at least two) is that column's header."""
    spellings = {c.name: {normalize_header(s) for s in c.spellings} for c in toast_file.columns if c.name in frame.columns}
    out: set[int] = set()
    for index in candidates:
        row = frame.loc[index]
        values = [(name, row[name]) for name in spellings if isinstance(row[name], str) and row[name].strip()]
        if len(values) >= 2 and all(normalize_header(value) in spellings[name] for name, value in values):
            out.add(index)
    return out


def _failures(cases: pd.DataFrame) -> list[RowFailure]:
    out: list[RowFailure] = []
    for case in cases.itertuples(index=False):
        if pd.isna(case.index):
            continue  # schema-level findings (a missing column) are handled at file level
        check = str(case.check)
        if check == "column_in_dataframe":
            continue
        if check.startswith("field_uniqueness") or check.startswith("multiple_fields_uniqueness"):
            rule = RULE_NATURAL_KEY
        elif check == "not_nullable":
            rule = "required_value_missing"
        elif check.startswith("dtype"):
            rule = "not_text"
        else:
            rule = check
        # An empty cell reads as None whether the frame holds Python objects or Arrow values.
        value = "None" if pd.api.types.is_scalar(case.failure_case) and pd.isna(case.failure_case) else str(case.failure_case)
        out.append(RowFailure(index=int(case.index), column=str(case.column), rule=rule, value=value))
    return out
