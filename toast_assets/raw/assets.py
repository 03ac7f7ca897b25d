"""Raw tables: every landed row as text with its lineage, or in quarantine with the reason."""

import time

import dagster as dg

from toast_assets.contract import ENTITIES, EXTRA_COLUMN, LINEAGE_COLUMNS, TOAST_FILES, ToastFile
from toast_assets.landing.assets import LANDING_GROUP
from toast_assets.landing.lake import LakeResource
from toast_assets.partitions import DAILY_PARTITIONS, context_dates
from toast_assets.quality.resources import QualityPolicy
from toast_assets.raw.load import load_raw
from toast_assets.raw.prepare import FileLoadStats
from toast_assets.raw.warehouse import (
    FILE_MANIFEST_TABLE,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
    LoadResult,
    Reconciliation,
    WarehouseResource,
)

RAW_GROUP = "toast_raw"
ROWS_RECONCILED = "rows_reconciled"
CONTRACT_VALID = "contract_valid"
SAMPLE_ROWS_PER_RULE = 3


def _table_schema(toast_file: ToastFile) -> dg.TableSchema:
    columns = [dg.TableColumn(c.name, "text", description=f"`{c.header}` ({c.type.value}). {c.description}".strip()) for c in toast_file.columns]
    columns.append(dg.TableColumn(EXTRA_COLUMN, "text", description="JSON object of delivered columns the contract does not know."))
    columns += [dg.TableColumn(name, kind) for name, kind in LINEAGE_COLUMNS]
    return dg.TableSchema(columns=columns)


RAW_SPECS = [
    dg.AssetSpec(
        key=[RAW_GROUP, toast_file.entity],
        deps=[[LANDING_GROUP, toast_file.entity]],
        group_name=RAW_GROUP,
        description=(
            f"`{RAW_SCHEMA}.{toast_file.entity}`: {toast_file.description} Every delivered column as text, "
            "mapped by header name, plus lineage columns; each business date replaced atomically."
        ),
        partitions_def=DAILY_PARTITIONS,
        kinds={"duckdb", "table"},
        metadata={
            "dagster/column_schema": _table_schema(toast_file),
            "dagster/table_name": f"{RAW_SCHEMA}.{toast_file.entity}",
            "natural_key": ", ".join(toast_file.natural_key),
        },
    )
    for toast_file in TOAST_FILES
] + [
    dg.AssetSpec(
        key=[RAW_GROUP, QUARANTINE_TABLE],
        deps=[[LANDING_GROUP, e] for e in ENTITIES],
        group_name=RAW_GROUP,
        description="Source records that could not be loaded, with file, location, date, row number, rule and original text.",
        partitions_def=DAILY_PARTITIONS,
        kinds={"duckdb", "table"},
        metadata={"dagster/table_name": f"{RAW_SCHEMA}.{QUARANTINE_TABLE}"},
    ),
    dg.AssetSpec(
        key=[RAW_GROUP, FILE_MANIFEST_TABLE],
        deps=[[LANDING_GROUP, e] for e in ENTITIES],
        group_name=RAW_GROUP,
        description="One row per landed file per location and date: checksum, encoding, source, loaded and quarantined rows.",
        partitions_def=DAILY_PARTITIONS,
        kinds={"duckdb", "table"},
        metadata={"dagster/table_name": f"{RAW_SCHEMA}.{FILE_MANIFEST_TABLE}"},
    ),
]

RAW_CHECKS = [
    spec
    for entity in ENTITIES
    for spec in (
        dg.AssetCheckSpec(
            ROWS_RECONCILED,
            asset=[RAW_GROUP, entity],
            blocking=True,
            description=(
                "Per file and location: source records = rows loaded + rows quarantined (nothing lost), "
                "and the lake object's sha256 still matches the manifest."
            ),
        ),
        dg.AssetCheckSpec(
            CONTRACT_VALID,
            asset=[RAW_GROUP, entity],
            blocking=True,
            description=(
                "Pandera contract from the Toast file contract: required columns present, ids digit-only, "
                "timestamps, decimals and booleans parse, natural key unique per location and date. Failing rows "
                "are quarantined; fails when a file lacks a required column or the quarantined share of the "
                "partition's rows passes the policy threshold (default 0.1%)."
            ),
        ),
    )
]


@dg.multi_asset(
    name="toast_raw",
    specs=RAW_SPECS,
    check_specs=RAW_CHECKS,
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
)
def toast_raw(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource, quality: QualityPolicy):
    """Load the run's business dates from the lake into the raw tables, one transaction for all."""
    dates = context_dates(context)
    selected = {key.path[-1] for key in context.selected_asset_keys}
    entities = [e for e in ENTITIES if e in selected] or list(ENTITIES)
    started = time.monotonic()
    result = load_raw(lake, warehouse, dates, entities)
    seconds = round(time.monotonic() - started, 3)
    for stats in result.files:
        if stats.rejection:
            context.log.error(
                f"rejected {stats.file_name} for location {stats.location_id}, business date {stats.business_date}: "
                f"{stats.rejection}; its {stats.source_rows} row(s) are in {RAW_SCHEMA}.{QUARANTINE_TABLE}. "
                "Ask Toast to restore the column or map its new spelling in the contract."
            )
    reconciliation = warehouse.reconcile(entities, dates)
    context.log.info(f"loaded {len(result.files)} file(s) for {len(dates)} business date(s) into {warehouse.describe()} in {seconds}s")

    for entity in entities:
        files = result.for_entity(entity)
        yield dg.MaterializeResult(asset_key=[RAW_GROUP, entity], metadata=_entity_metadata(files, result, entity, seconds))
    for table in (QUARANTINE_TABLE, FILE_MANIFEST_TABLE):
        if table in selected:
            yield dg.MaterializeResult(asset_key=[RAW_GROUP, table], metadata=_summary_metadata(result, table))

    checks = context.selected_asset_check_keys
    checksums = {f.source_file: (f.sha256, lake.sha256(f.source_file)) for f in result.files}
    quarantine = warehouse.read_frame(RAW_SCHEMA, QUARANTINE_TABLE, "business_date", dates)
    for entity in entities:
        files = result.for_entity(entity)
        if dg.AssetCheckKey(dg.AssetKey([RAW_GROUP, entity]), ROWS_RECONCILED) in checks:
            yield _reconciliation_check(entity, [r for r in reconciliation if r.entity == entity], files, checksums)
        if dg.AssetCheckKey(dg.AssetKey([RAW_GROUP, entity]), CONTRACT_VALID) in checks:
            yield _contract_check(entity, files, quarantine[quarantine["entity"] == entity], quality.quarantine_threshold)


def _reconciliation_check(
    entity: str, reconciliation: list[Reconciliation], files: list[FileLoadStats], checksums: dict[str, tuple[str, str | None]]
) -> dg.AssetCheckResult:
    off = [r for r in reconciliation if not r.balanced]
    altered = [f for f in files if checksums[f.source_file][0] != checksums[f.source_file][1]]
    lines = [f"- {r.file_name}, location {r.location_id}, {r.business_date}: {r.source_rows} source rows, "
             f"{r.loaded_rows} loaded, {r.quarantined_rows} quarantined" for r in off[:50]]
    lines += [f"- {f.file_name}, location {f.location_id}, {f.business_date}: lake object no longer matches its "
              f"manifest sha256 {f.sha256[:12]}…" for f in altered[:50]]
    return dg.AssetCheckResult(
        asset_key=[RAW_GROUP, entity],
        check_name=ROWS_RECONCILED,
        passed=not off and not altered,
        metadata={
            "files_checked": len(reconciliation),
            "files_unbalanced": len(off),
            "files_checksum_mismatch": len(altered),
            "rows_source": sum(r.source_rows for r in reconciliation),
            "rows_loaded": sum(r.loaded_rows for r in reconciliation),
            "rows_quarantined": sum(r.quarantined_rows for r in reconciliation),
            "findings": dg.MetadataValue.md("\n".join(lines) or "every file balanced, every checksum intact"),
        },
    )


def _contract_check(entity: str, files: list[FileLoadStats], quarantine, threshold: float) -> dg.AssetCheckResult:
    rejected = [f for f in files if f.rejection]
    source_rows = sum(f.source_rows for f in files)
    quarantined = sum(f.quarantined_rows for f in files)
    share = quarantined / source_rows if source_rows else 0.0
    reasons = []
    if not quarantine.empty:
        for rule, group in sorted(quarantine.groupby("rule"), key=lambda item: -len(item[1]))[:10]:
            samples = "; ".join(
                f"{row.source_file.rsplit('/', 1)[-1]} location {row.location_id} {row.business_date} row {row.row_number}"
                + (f" ({row.error_message[:120]})" if row.error_message else "")
                for row in group.head(SAMPLE_ROWS_PER_RULE).itertuples()
            )
            reasons.append(f"| `{rule}` | {len(group)} | {samples} |")
    table = "\n".join(["| rule | rows | samples (file, location, date, row) |", "|---|---|---|", *reasons]) if reasons else "no rows quarantined"
    problems = [f"{f.file_name} (location {f.location_id}, {f.business_date}): {f.rejection}" for f in rejected]
    if share > threshold:
        problems.append(f"{quarantined} of {source_rows} rows quarantined ({share:.3%}), above the {threshold:.3%} threshold")
    return dg.AssetCheckResult(
        asset_key=[RAW_GROUP, entity],
        check_name=CONTRACT_VALID,
        passed=not problems,
        description="; ".join(problems) if problems else None,
        metadata={
            "rows_source": source_rows,
            "rows_quarantined": quarantined,
            "quarantined_share": dg.MetadataValue.float(round(share, 6)),
            "threshold": dg.MetadataValue.float(threshold),
            "files_rejected": len(rejected),
            "top_reasons": dg.MetadataValue.md(table),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )


def _entity_metadata(files: list[FileLoadStats], result: LoadResult, entity: str, seconds: float) -> dict:
    drift = sorted({(f.location_id, h) for f in files for h in f.unknown_headers})
    missing = sorted({(f.location_id, c) for f in files for c in f.missing_columns})
    rules = result.quarantine_rules.get(entity, {})
    return {
        "dagster/row_count": dg.MetadataValue.int(sum(f.loaded_rows for f in files)),
        "files": dg.MetadataValue.int(len(files)),
        "rows_read": dg.MetadataValue.int(sum(f.source_rows for f in files)),
        "rows_loaded": dg.MetadataValue.int(sum(f.loaded_rows for f in files)),
        "rows_quarantined": dg.MetadataValue.int(sum(f.quarantined_rows for f in files)),
        "files_empty": dg.MetadataValue.int(sum(1 for f in files if f.status == "empty")),
        "files_rejected": dg.MetadataValue.int(sum(1 for f in files if f.status == "rejected")),
        "locations": dg.MetadataValue.int(len({f.location_id for f in files})),
        "load_seconds": dg.MetadataValue.float(seconds),
        # Of the run's load, the share this table's contract checks took (Pandera, one stream of frames per run).
        "contract_check_seconds": dg.MetadataValue.float(round(result.validation_seconds.get(entity, 0.0), 4)),
        "contract_check_calls": dg.MetadataValue.int(result.validation_calls.get(entity, 0)),
        "quarantine_rules": dg.MetadataValue.json(rules),
        "schema_drift": dg.MetadataValue.md(
            "\n".join(
                [f"- unknown column `{h}` from location {loc} (kept in `{EXTRA_COLUMN}`)" for loc, h in drift]
                + [f"- column `{c}` absent at location {loc} (loaded as NULL)" for loc, c in missing]
            )
            or "none: every file matches the contract"
        ),
        "unknown_columns": dg.MetadataValue.int(len(drift)),
    }


def _summary_metadata(result: LoadResult, table: str) -> dict:
    if table == QUARANTINE_TABLE:
        total = sum(f.quarantined_rows for f in result.files)
        by_rule: dict[str, int] = {}
        for rules in result.quarantine_rules.values():
            for rule, count in rules.items():
                by_rule[rule] = by_rule.get(rule, 0) + count
        return {"dagster/row_count": dg.MetadataValue.int(total), "rows_quarantined": total, "rules": dg.MetadataValue.json(by_rule)}
    return {"dagster/row_count": dg.MetadataValue.int(len(result.files)), "files": len(result.files)}
