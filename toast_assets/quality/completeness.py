"""File-level rules: did every expected file arrive, and is every delivered row accounted for.

- Completeness (WARN): each expected location delivered the always-on Toast files for the
  business date. A location whose files all arrived header-only was closed that day, which
  is not a problem; a location that sent nothing, or only some files, is.
- Reconciliation (ERROR): per file, source rows = rows loaded + rows quarantined.
- Quarantine (ERROR): per file, rows the contract rejected, against the policy threshold;
  a file rejected as a whole fails.

The evaluators are pure; `read_*` functions fetch their inputs through the warehouse
resource, whatever engine is behind it.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

import pandas as pd

from toast_assets.contract import TOAST_FILES
from toast_assets.dbt.translator import SCHEMA_GROUPS
from toast_assets.quality.findings import (
    ERROR,
    FAILED,
    PASS,
    WARN,
    WARNED,
    Finding,
    as_dates,
    markdown_table,
)
from toast_assets.raw.warehouse import FILE_MANIFEST_TABLE, QUARANTINE_TABLE, RAW_SCHEMA, Reconciliation, WarehouseResource

COMPLETENESS = "files_complete"
RECONCILIATION = "rows_reconciled"
QUARANTINE = "rows_quarantined"

# Files Toast writes for every location every day; TimeEntries.csv only where labor export is on.
ALWAYS_ON_FILES: dict[str, str] = {f.entity: f.file_name for f in TOAST_FILES if not f.optional_file}
OPTIONAL_FILES: dict[str, str] = {f.entity: f.file_name for f in TOAST_FILES if f.optional_file}

# The dbt seed `locations` lives in the reference schema (BigQuery dataset).
REFERENCE_SCHEMA = next(schema for schema, group in SCHEMA_GROUPS.items() if group == "reference")
LOCATIONS_REFERENCE = "locations"

MANIFEST_COLUMNS = [
    "entity", "location_id", "business_date", "file_name", "source_file", "source_rows",
    "loaded_rows", "quarantined_rows", "status", "rejection",
]  # fmt: skip
QUARANTINE_COLUMNS = ["entity", "location_id", "business_date", "source_file", "row_number", "rule"]

# Location-day states shown in the completeness table.
DELIVERED, CLOSED, PARTIAL, MISSING = "delivered", "closed", "files missing", "no files"


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def read_manifest(warehouse: WarehouseResource, dates: Sequence[date]) -> pd.DataFrame:
    """`toast_raw.file_manifest` rows of these business dates, dates as `datetime.date`."""
    frame = warehouse.read_frame(RAW_SCHEMA, FILE_MANIFEST_TABLE, "business_date", list(dates), MANIFEST_COLUMNS)
    return normalize_manifest(frame)


def normalize_manifest(frame: pd.DataFrame) -> pd.DataFrame:
    """A manifest frame with every expected column, text ids and integer row counts."""
    frame = frame.reindex(columns=MANIFEST_COLUMNS).copy()
    frame["business_date"] = as_dates(frame["business_date"])
    frame["location_id"] = frame["location_id"].astype(str)
    for column in ("source_rows", "loaded_rows", "quarantined_rows"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype(int)
    return frame


def read_quarantine(warehouse: WarehouseResource, dates: Sequence[date]) -> pd.DataFrame:
    """`toast_raw.quarantine` rows of these business dates (without the record text)."""
    frame = warehouse.read_frame(RAW_SCHEMA, QUARANTINE_TABLE, "business_date", list(dates), QUARANTINE_COLUMNS)
    frame = frame.reindex(columns=QUARANTINE_COLUMNS).copy()
    frame["business_date"] = as_dates(frame["business_date"])
    frame["location_id"] = frame["location_id"].astype(str)
    return frame


def read_reference_locations(warehouse: WarehouseResource) -> pd.DataFrame:
    """The group's locations reference (dbt seed `toast_reference.locations`); empty before
    the first dbt run. Columns: export_id, location_name, opened_on."""
    frame = warehouse.read_table(REFERENCE_SCHEMA, LOCATIONS_REFERENCE)
    frame = frame.reindex(columns=["export_id", "location_name", "opened_on"]).copy()
    frame["export_id"] = frame["export_id"].astype(str)
    frame["opened_on"] = as_dates(frame["opened_on"].dropna()).reindex(frame.index)
    return frame


def expected_locations(
    dates: Sequence[date],
    configured: Sequence[str],
    reference: pd.DataFrame,
    history: pd.DataFrame,
    lookback_days: int,
) -> dict[date, frozenset[str]]:
    """Which locations should deliver on each business date.

    The SFTP resource's configured export ids when there are any (the group named its
    locations); otherwise every location in the locations reference that had opened by that
    date, plus every location that delivered in the `lookback_days` before it.
    """
    if configured:
        return {d: frozenset(configured) for d in dates}
    opened = {
        str(row.export_id): (row.opened_on if isinstance(row.opened_on, date) else None)
        for row in reference.itertuples()
    }
    seen = history[["location_id", "business_date"]].drop_duplicates() if not history.empty else history
    out: dict[date, frozenset[str]] = {}
    for d in dates:
        known = {loc for loc, since in opened.items() if since is None or since <= d}
        if not seen.empty:
            recent = seen[(seen["business_date"] < d) & (seen["business_date"] >= d - timedelta(days=lookback_days))]
            known |= set(recent["location_id"])
        out[d] = frozenset(known)
    return out


def closed_location_days(manifest: pd.DataFrame) -> set[tuple[str, date]]:
    """(location, business date) pairs whose delivered files are all header-only: closed days."""
    if manifest.empty:
        return set()
    empty = manifest.groupby(["location_id", "business_date"])["status"].agg(lambda s: bool((s == "empty").all()))
    return {key for key, is_closed in empty.items() if is_closed}


def delivered_location_days(manifest: pd.DataFrame) -> set[tuple[str, date]]:
    """(location, business date) pairs for which at least one file was landed."""
    if manifest.empty:
        return set()
    return set(manifest[["location_id", "business_date"]].itertuples(index=False, name=None))


def completeness_findings(
    warehouse: WarehouseResource, dates: Sequence[date], configured: Sequence[str], lookback_days: int
) -> list[Finding]:
    """Read the manifest (with `lookback_days` of history) and the locations reference, and
    evaluate completeness for these dates."""
    first = min(dates) - timedelta(days=lookback_days)
    span = [first + timedelta(days=i) for i in range((max(dates) - first).days + 1)]
    manifest = read_manifest(warehouse, span)
    reference = read_reference_locations(warehouse) if not configured else pd.DataFrame(columns=["export_id", "opened_on"])
    expected = expected_locations(dates, configured, reference, manifest, lookback_days)
    return evaluate_completeness(dates, expected, manifest[manifest["business_date"].isin(set(dates))])


# ---------------------------------------------------------------------------------------------
# Completeness
# ---------------------------------------------------------------------------------------------


def evaluate_completeness(
    dates: Sequence[date], expected: Mapping[date, Iterable[str]], manifest: pd.DataFrame
) -> list[Finding]:
    """One finding per business date and location (expected or delivering): delivered,
    closed (header-only files), some always-on files missing, or nothing delivered."""
    findings: list[Finding] = []
    by_day = {key: group for key, group in manifest.groupby(["location_id", "business_date"])} if not manifest.empty else {}
    for d in dates:
        wanted = set(expected.get(d, ()))
        delivering = {loc for loc, day in by_day if day == d}
        for location in sorted(wanted | delivering):
            files = by_day.get((location, d))
            findings.append(_location_day(location, d, files, location in wanted))
    return findings


def _location_day(location: str, d: date, files: pd.DataFrame | None, expected: bool) -> Finding:
    where = f"location {location}, business date {d.isoformat()}"
    folder = f"/{location}/{d:%Y%m%d}/"
    if files is None or files.empty:
        return Finding(
            check=COMPLETENESS, severity=WARN, status=WARNED, location_id=location, business_date=d,
            subject="location day",
            message=(
                f"{where}: no files delivered. Look for the folder {folder} on the Toast SFTP server (Toast keeps "
                "files about 7 days); once it is there, re-run the date. A location that closed for good should be "
                "removed from TOAST_EXPORT_IDS or the locations reference."
            ),
            figures={"state": MISSING, "value": 0, "expected": len(ALWAYS_ON_FILES), "files_delivered": [],
                     "missing_files": sorted(ALWAYS_ON_FILES.values())},
        )  # fmt: skip
    entities = set(files["entity"])
    missing = sorted(name for entity, name in ALWAYS_ON_FILES.items() if entity not in entities)
    closed = bool((files["status"] == "empty").all())
    delivered = sorted(set(files["file_name"]))
    state = CLOSED if closed and not missing else PARTIAL if missing else DELIVERED
    note = "" if expected else " (not an expected location: add it to the locations reference or TOAST_EXPORT_IDS)"
    if missing:
        closed_note = " The delivered files are header-only (closed day)." if closed else ""
        message = (
            f"{where}: {', '.join(missing)} missing ({len(delivered)} file(s) delivered).{closed_note} Look for the "
            f"file(s) in {folder} on the Toast SFTP server and re-run the date once they arrive; if the group turned "
            f"the export off, turn it back on in Toast's export settings.{note}"
        )
    elif closed:
        message = f"{where}: closed: all {len(delivered)} file(s) arrived header-only.{note}"
    else:
        message = f"{where}: all {len(ALWAYS_ON_FILES)} always-on files delivered ({len(delivered)} in all).{note}"
    return Finding(
        check=COMPLETENESS, severity=WARN, status=WARNED if missing else PASS, location_id=location, business_date=d,
        subject="location day", message=message,
        figures={"state": state, "value": len(delivered), "expected": len(ALWAYS_ON_FILES),
                 "files_delivered": delivered, "files_empty": int((files["status"] == "empty").sum()),
                 "missing_files": missing, "expected_location": expected},
    )  # fmt: skip


def completeness_markdown(findings: Sequence[Finding]) -> str:
    """Per business date and location: what was delivered, whether it was a closed day, what is missing."""
    rows = [
        (
            f.business_date,
            f.location_id,
            f.figures.get("state"),
            len(f.figures.get("files_delivered", [])),
            "yes" if f.figures.get("state") == CLOSED else "no",
            ", ".join(f.figures.get("missing_files", [])) or "–",
        )
        for f in sorted(findings, key=lambda f: (f.business_date or date.min, f.location_id or ""))
        if f.check == COMPLETENESS
    ]
    if not rows:
        return "no locations expected and none delivered"
    return markdown_table(("business date", "location", "state", "files delivered", "closed", "missing files"), rows)


# ---------------------------------------------------------------------------------------------
# Reconciliation and quarantine
# ---------------------------------------------------------------------------------------------


def evaluate_reconciliation(reconciliations: Iterable[Reconciliation]) -> list[Finding]:
    """Per file: every source row is either in the raw table or in quarantine."""
    findings = []
    for r in reconciliations:
        d = date.fromisoformat(str(r.business_date)[:10])
        accounted = r.loaded_rows + r.quarantined_rows
        where = f"{r.file_name} of location {r.location_id}, business date {d.isoformat()}"
        if r.balanced:
            message = f"{where}: {r.source_rows} source rows = {r.loaded_rows} loaded + {r.quarantined_rows} quarantined"
        else:
            message = (
                f"{where}: {r.source_rows} source rows but {r.loaded_rows} loaded + {r.quarantined_rows} quarantined "
                f"({r.source_rows - accounted:+d} unaccounted). Re-run the date; if the gap stays, the raw load lost "
                "or duplicated rows: report it with the file's lake key from toast_raw.file_manifest."
            )
        findings.append(
            Finding(
                check=RECONCILIATION, severity=ERROR, status=PASS if r.balanced else FAILED, location_id=r.location_id,
                business_date=d, subject=r.file_name, message=message,
                figures={"value": accounted, "expected": r.source_rows, "source_rows": r.source_rows,
                         "loaded_rows": r.loaded_rows, "quarantined_rows": r.quarantined_rows},
            )  # fmt: skip
        )
    return findings


def evaluate_quarantine(manifest: pd.DataFrame, quarantine: pd.DataFrame, threshold: float) -> list[Finding]:
    """Per delivered file: rows moved to quarantine by the contract, and why.

    Fails when the file was rejected as a whole or its quarantined share passes the policy
    threshold (the share at which the contract check holds the marts back); warns for any
    quarantined row below it.
    """
    findings = []
    if manifest.empty:
        return findings
    rules_by_file: dict[str, dict[str, int]] = {}
    rows_by_file: dict[str, int] = {}
    if not quarantine.empty:
        for source_file, group in quarantine.groupby("source_file"):
            rows_by_file[source_file] = int(group["row_number"].nunique())
            counts: dict[str, int] = {}
            for rules, n in group.groupby("rule")["row_number"].nunique().items():
                for rule in str(rules).split(";"):
                    counts[rule] = counts.get(rule, 0) + int(n)
            rules_by_file[source_file] = dict(sorted(counts.items(), key=lambda item: -item[1]))
    for row in manifest.itertuples(index=False):
        quarantined = rows_by_file.get(row.source_file, 0)
        source_rows = int(row.source_rows)
        share = quarantined / source_rows if source_rows else 0.0
        rules = rules_by_file.get(row.source_file, {})
        where = f"{row.file_name} of location {row.location_id}, business date {row.business_date.isoformat()}"
        reasons = ", ".join(f"{rule} ({n})" for rule, n in rules.items())
        if row.status == "rejected":
            status = FAILED
            message = (
                f"{where}: file rejected ({row.rejection}); its {source_rows} row(s) are in toast_raw.quarantine. "
                "Ask Toast to restore the column, or map its new spelling in the contract, then re-run the date."
            )
        elif quarantined and share > threshold:
            status = FAILED
            message = (
                f"{where}: {quarantined} of {source_rows} rows quarantined ({share:.2%}, above the {threshold:.2%} "
                f"threshold): {reasons}. The rows, their original text and the reason are in toast_raw.quarantine; "
                "ask Toast for a corrected file and re-run the date."
            )
        elif quarantined:
            status = WARNED
            message = (
                f"{where}: {quarantined} of {source_rows} rows quarantined ({share:.2%}, within the {threshold:.2%} "
                f"threshold): {reasons}. See toast_raw.quarantine."
            )
        else:
            status = PASS
            message = f"{where}: no rows quarantined ({source_rows} source rows)"
        findings.append(
            Finding(
                check=QUARANTINE, severity=ERROR, status=status, location_id=row.location_id,
                business_date=row.business_date, subject=row.file_name, message=message,
                figures={"value": quarantined, "expected": 0, "source_rows": source_rows, "share": share,
                         "threshold": threshold, "rules": rules, "file_status": row.status},
            )  # fmt: skip
        )
    return findings
