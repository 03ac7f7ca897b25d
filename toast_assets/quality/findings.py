"""Findings: what one quality rule concluded about one location on one business date.

Every rule in `toast_assets.quality` is a pure function from DataFrames to a list of
`Finding`s. The Dagster asset checks (the dates of one run) and the weekly quality report
(the last seven dates) call the same rules and only differ in how they present the result,
so a number in the Monday report is the number the check showed that morning.
"""

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import pandas as pd

Severity = Literal["error", "warn"]
Status = Literal["pass", "warn", "fail", "skipped"]

ERROR: Severity = "error"  # the numbers are wrong: a data team must not use them as they are
WARN: Severity = "warn"  # a signal worth a look: late, unusual or partial data

PASS: Status = "pass"
WARNED: Status = "warn"
FAILED: Status = "fail"
SKIPPED: Status = "skipped"  # the rule could not be evaluated (e.g. too little history)

STATUSES: tuple[Status, ...] = (FAILED, WARNED, SKIPPED, PASS)  # worst first
_RANK = {status: rank for rank, status in enumerate(STATUSES)}

# Columns of the findings table the weekly report writes (one row per finding).
FINDING_COLUMNS: tuple[str, ...] = (
    "business_date",
    "location_id",
    "check_name",
    "subject",
    "severity",
    "status",
    "value",
    "expected",
    "message",
    "figures",
)


@dataclass(frozen=True)
class Finding:
    """One rule's verdict for one location and business date (and one subject within it).

    `subject` names what was measured when a rule looks at several things per location-day
    (a metric, a file, a mart); `figures` holds the numbers behind the verdict, `value` and
    `expected` first when the rule compares a measurement with what it should be. A finding
    without a location concerns the whole group that date (a mart-wide or dbt-test result).
    """

    check: str
    severity: Severity
    status: Status
    location_id: str | None
    business_date: date | None
    message: str
    subject: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def is_problem(self) -> bool:
        return self.status in (WARNED, FAILED)


def problem_status(severity: Severity) -> Status:
    """The status a rule of this severity gives when it finds a problem."""
    return FAILED if severity == ERROR else WARNED


def worst_status(statuses: Iterable[Status]) -> Status:
    """The most serious of some statuses (`pass` when there are none)."""
    return min(statuses, key=_RANK.__getitem__, default=PASS)


def status_counts(findings: Iterable[Finding]) -> dict[Status, int]:
    """How many findings have each status, every status present (zeros included)."""
    counts = Counter(f.status for f in findings)
    return {status: counts.get(status, 0) for status in (PASS, WARNED, FAILED, SKIPPED)}


def sort_worst_first(findings: Iterable[Finding]) -> list[Finding]:
    """Failures before warnings, errors before warnings, then by date, location and check."""
    return sorted(
        findings,
        key=lambda f: (
            _RANK[f.status],
            0 if f.severity == ERROR else 1,
            f.business_date or date.min,
            f.location_id or "",
            f.check,
            f.subject,
        ),
    )


def plain(value: Any) -> Any:
    """A JSON- and metadata-friendly version of a figure (dates as ISO text, NaN as None)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value)]
    return value


def _number(value: Any) -> float | None:
    value = plain(value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def findings_frame(findings: Sequence[Finding]) -> pd.DataFrame:
    """Findings as rows of the quality table, with explicit column types.

    Text columns use pandas' string dtype and numbers Float64, so the warehouse creates the
    right column types even when a column holds only NULLs in the first batch it sees.
    """
    records = {
        "business_date": pd.Series([f.business_date for f in findings], dtype=object),
        "location_id": pd.Series([f.location_id for f in findings], dtype="string"),
        "check_name": pd.Series([f.check for f in findings], dtype="string"),
        "subject": pd.Series([f.subject for f in findings], dtype="string"),
        "severity": pd.Series([f.severity for f in findings], dtype="string"),
        "status": pd.Series([f.status for f in findings], dtype="string"),
        "value": pd.Series([_number(f.figures.get("value")) for f in findings], dtype="Float64"),
        "expected": pd.Series([_number(f.figures.get("expected")) for f in findings], dtype="Float64"),
        "message": pd.Series([f.message for f in findings], dtype="string"),
        "figures": pd.Series([json.dumps(plain(f.figures), sort_keys=True) for f in findings], dtype="string"),
    }
    return pd.DataFrame(records, columns=list(FINDING_COLUMNS))


def markdown_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    text = "–" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; cells are escaped so a `|` in a menu name cannot break it."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def findings_markdown(findings: Sequence[Finding], limit: int = 50, empty: str = "no problems found") -> str:
    """The problems among some findings, worst first, as a Markdown table (at most `limit` rows)."""
    problems = sort_worst_first(f for f in findings if f.is_problem)
    if not problems:
        return empty
    rows = [
        (f.status.upper(), f.business_date, f.location_id or "all", f.subject, f.message) for f in problems[:limit]
    ]
    table = markdown_table(("status", "business date", "location", "subject", "finding"), rows)
    if len(problems) > limit:
        table += f"\n\n…and {len(problems) - limit} more (the full list is in the weekly quality report table)."
    return table


def as_dates(values: pd.Series) -> pd.Series:
    """A business-date column as `datetime.date` values, whatever the warehouse returned
    (DATE as datetime64, date objects or ISO text)."""
    if values.empty:
        return pd.Series([], index=values.index, dtype=object)
    return pd.Series(pd.to_datetime(values).dt.date, index=values.index, dtype=object)
