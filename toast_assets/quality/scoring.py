"""Quality score: the share of checks a location passed on a business date, weighted by severity.

Each check counts once per location-day, however many subjects it looked at (nine files,
eleven metrics): it passes when none of its findings is a warning or failure. Checks that
guard the numbers themselves (ERROR) weigh three times as much as signals (WARN), and
checks that could not be evaluated (too little history) do not count. A location that
delivered nothing scores 0; a clean day scores 1.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

import pandas as pd

from toast_assets.quality.findings import (
    ERROR,
    SKIPPED,
    WARN,
    Finding,
    Severity,
    worst_status,
)

QUALITY_SCORE = "quality_score"
SEVERITY_WEIGHTS: dict[str, float] = {ERROR: 3.0, WARN: 1.0}
ALL_LOCATIONS = "all locations"


def check_outcomes(findings: Iterable[Finding]) -> dict[tuple[str | None, date, str], tuple[Severity, bool]]:
    """(location, business date, check) → (severity, passed), skipped findings left out."""
    grouped: dict[tuple[str | None, date, str], list[Finding]] = defaultdict(list)
    for f in findings:
        if f.business_date is not None and f.status != SKIPPED and f.check != QUALITY_SCORE:
            grouped[(f.location_id, f.business_date, f.check)].append(f)
    return {
        key: (ERROR if any(f.severity == ERROR for f in group) else WARN, not any(f.is_problem for f in group))
        for key, group in grouped.items()
    }


def weighted_share(outcomes: Iterable[tuple[Severity, bool]]) -> float | None:
    """Severity-weighted share of passing outcomes; None when there is nothing to score."""
    total = passed = 0.0
    for severity, ok in outcomes:
        weight = SEVERITY_WEIGHTS[severity]
        total += weight
        passed += weight if ok else 0.0
    return passed / total if total else None


def quality_scores(findings: Sequence[Finding]) -> pd.DataFrame:
    """Score per location and business date (location-less, group-wide findings excluded).

    Columns: location_id, business_date, score, checks, checks_passed.
    """
    by_day: dict[tuple[str, date], list[tuple[Severity, bool]]] = defaultdict(list)
    for (location, d, _), outcome in check_outcomes(findings).items():
        if location is not None:
            by_day[(location, d)].append(outcome)
    rows = [
        {"location_id": location, "business_date": d, "score": weighted_share(outcomes),
         "checks": len(outcomes), "checks_passed": sum(ok for _, ok in outcomes)}
        for (location, d), outcomes in sorted(by_day.items())
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["location_id", "business_date", "score", "checks", "checks_passed"])


def location_scores(findings: Sequence[Finding]) -> dict[str, float]:
    """Score per location over every date of the findings (all its check outcomes together)."""
    by_location: dict[str, list[tuple[Severity, bool]]] = defaultdict(list)
    for (location, _, _), outcome in check_outcomes(findings).items():
        if location is not None:
            by_location[location].append(outcome)
    return {loc: score for loc, outcomes in sorted(by_location.items()) if (score := weighted_share(outcomes)) is not None}


def overall_score(findings: Sequence[Finding]) -> float | None:
    """Score over every check outcome of the findings, group-wide ones included."""
    return weighted_share(check_outcomes(findings).values())


def score_findings(findings: Sequence[Finding], dates: Sequence[date]) -> list[Finding]:
    """The scores as rows of the quality table (check `quality_score`, value = score): one per
    location and date, and one per date for all locations together (always present)."""
    out: list[Finding] = []
    statuses: dict[tuple[str | None, date], list[Finding]] = defaultdict(list)
    for f in findings:
        if f.business_date is not None:
            statuses[(f.location_id, f.business_date)].append(f)
            statuses[(None, f.business_date)].append(f)
    for row in quality_scores(findings).itertuples(index=False):
        group = statuses[(row.location_id, row.business_date)]
        out.append(_score_row(row.location_id, row.business_date, row.score, row.checks, row.checks_passed, group))
    outcomes = check_outcomes(findings)
    for d in dates:
        day = [outcome for (_, day_, _), outcome in outcomes.items() if day_ == d]
        score = weighted_share(day)
        out.append(_score_row(None, d, score, len(day), sum(ok for _, ok in day), statuses[(None, d)]))
    return out


def _score_row(location: str | None, d: date, score: float | None, checks: int, passed: int, group: list[Finding]) -> Finding:
    who = f"location {location}" if location else ALL_LOCATIONS
    worst = worst_status(f.status for f in group if f.status != SKIPPED)
    text = "no checks evaluated" if score is None else f"{score:.0%} ({passed} of {checks} checks passed, errors weigh 3, warnings 1)"
    return Finding(
        check=QUALITY_SCORE, severity=ERROR if any(f.severity == ERROR and f.is_problem for f in group) else WARN,
        status=worst if score is not None else SKIPPED, location_id=location, business_date=d, subject="score",
        message=f"{who}, business date {d.isoformat()}: quality score {text}",
        figures={"value": score, "expected": 1.0, "checks": checks, "checks_passed": passed},
    )  # fmt: skip


def format_score(score: float | None) -> str:
    """A score as a percentage for reports ('–' when unknown)."""
    return "–" if score is None or (isinstance(score, float) and math.isnan(score)) else f"{score:.0%}"

