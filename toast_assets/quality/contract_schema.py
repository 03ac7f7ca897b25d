"""Pandera schemas for the raw tables, generated from the Toast file contract.

Each raw table holds text; its schema says which text is acceptable for each logical type
(ids are digits, timestamps match a known format, money parses, booleans are true/false)
and that the natural key is unique per location and business date. Rows that break a rule
are moved to quarantine with the rule's name; nothing is silently coerced.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from toast_assets.contract import LogicalType, ToastFile
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


_TIMESTAMP_SHAPE = re.compile(
    r"^(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])/(\d{2}|\d{4}) "
    r"(((0?[1-9]|1[0-2]):[0-5]\d(:[0-5]\d)? ?[AP]M)|(([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d)?))$"
)


def _parses(values: pd.Series, formats: tuple[str, ...], iso: bool) -> pd.Series:
    """True where a value matches one of the formats; tries each format on what is left."""
    text = values.str.strip().str.upper()
    ok = pd.Series(False, index=values.index)
    if iso:
        ok |= values.str.strip().str.match(ISO_TIMESTAMP.pattern).fillna(False)
    for fmt in formats:
        pending = ~ok
        if not pending.any():
            break
        parsed = pd.to_datetime(text[pending], format=fmt, errors="coerce")
        ok.loc[pending] = parsed.notna()
    return ok


def _on_distinct(check: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """Evaluate a value rule once per distinct value: Toast columns repeat values heavily."""

    def run(series: pd.Series) -> pd.Series:
        distinct = pd.Series(series.dropna().unique(), dtype=object)
        if distinct.empty:
            return pd.Series(True, index=series.index)
        good = set(distinct[check(distinct).to_numpy(dtype=bool)])
        return series.isna() | series.isin(good)

    return run


def _timestamps_ok(values: pd.Series) -> pd.Series:
    # The common shapes by pattern (fast); anything else is tried against each format.
    shaped = values.str.strip().str.upper().str.match(_TIMESTAMP_SHAPE.pattern).fillna(False)
    rest = ~shaped
    if rest.any():
        shaped.loc[rest] = _parses(values[rest], TIMESTAMP_FORMATS, iso=True)
    return shaped


def _pattern(regex: re.Pattern) -> Callable[[pd.Series], pd.Series]:
    return lambda s: s.str.match(regex.pattern, flags=regex.flags).fillna(False)


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
    "required_value_missing": "a required id or key column is empty",
}


def _value_check(column_type: LogicalType) -> pa.Check | None:
    rule = VALUE_RULES.get(column_type)
    if rule is None:
        return None
    name, _, check = rule
    return pa.Check(_on_distinct(check), name=name)


def raw_schema(toast_file: ToastFile) -> pa.DataFrameSchema:
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
        unique=[*LINEAGE_KEY, *toast_file.natural_key],
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


def contract_failures(toast_file: ToastFile, frame: pd.DataFrame, schema: pa.DataFrameSchema | None = None) -> list[RowFailure]:
    """Every (row, rule) the frame breaks; the frame's index identifies the rows."""
    if frame.empty:
        return []
    schema = schema or raw_schema(toast_file)
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        return _failures(errors.failure_cases)
    return []


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
        out.append(RowFailure(index=int(case.index), column=str(case.column), rule=rule, value=str(case.failure_case)))
    return out
