"""Landing: every Toast file of the run's business dates, copied byte-for-byte into the lake."""

import time
from collections import defaultdict

import dagster as dg

from toast_assets.contract import TOAST_FILES
from toast_assets.landing.fetch import ParallelFetch
from toast_assets.landing.lake import LakeResource
from toast_assets.landing.landing import LakeWriteError, LandingReport, land
from toast_assets.lib.retry import call_with_retries, network_backoff, step_retry_policy
from toast_assets.partitions import DAILY_PARTITIONS, context_dates
from toast_assets.sftp.assets import SFTP_GROUP
from toast_assets.sftp.client import HostKeyError, SftpAuthError
from toast_assets.sftp.resources import ToastSftpResource, is_transient

LANDING_GROUP = "toast_landing"
# The deliveries table of a run over many business dates lists the dates with a location
# missing, at most this many; each date's materialization carries the whole table.
DELIVERY_TABLE_ROWS = 31

LANDING_SPECS = [
    dg.AssetSpec(
        key=[LANDING_GROUP, toast_file.entity],
        deps=[[SFTP_GROUP, toast_file.entity]],
        group_name=LANDING_GROUP,
        description=(
            f"{toast_file.file_name} of every location, kept untouched in the lake at "
            f"`toast/{toast_file.entity}/business_date=YYYY-MM-DD/location=<export_id>/{toast_file.file_name}`, "
            "with a manifest entry (size, sha256, source mtime, encoding, records). Corrected re-deliveries "
            "replace the object and the previous bytes are kept as a version."
        ),
        partitions_def=DAILY_PARTITIONS,
        kinds={"csv"},
    )
    for toast_file in TOAST_FILES
]


@dg.multi_asset(
    name="toast_landing",
    specs=LANDING_SPECS,
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
    # The SFTP network is the flaky part of a night: retry the step with backoff and jitter.
    retry_policy=step_retry_policy(),
)
def toast_landing(context: dg.AssetExecutionContext, toast_sftp: ToastSftpResource, lake: LakeResource):
    """One SFTP session lists and lands all files of all locations for the run's dates (one day
    or a range); a big night is fetched over `toast_sftp.connections` connections."""
    dates = context_dates(context)
    entities = {key.path[-1] for key in context.selected_asset_keys}
    started = time.monotonic()
    retries: list[str] = []

    def on_retry(message: str) -> None:
        retries.append(message)
        context.log.warning(message)

    connected = False

    def land_over_one_connection() -> tuple[list[str], LandingReport]:
        nonlocal connected
        connected = False
        with toast_sftp.open(log=on_retry) as client:  # retries connecting by itself
            connected = True
            expected = list(toast_sftp.export_ids) or client.list_export_ids()
            report = land(
                client,
                lake,
                dates,
                export_ids=toast_sftp.export_ids or None,
                entities=entities,
                log=context.log.debug,
                parallel=ParallelFetch(toast_sftp.settings(), toast_sftp.connections),
            )
            return expected, report

    try:
        # A connection that breaks mid-night (dropped, stalled past the read timeout, a file
        # still being written) resumes on a new connection within the step: files already
        # recorded in a manifest are not fetched again. Longer outages fail the step, which
        # Dagster retries later (step_retry_policy).
        expected, report = call_with_retries(
            land_over_one_connection,
            what=f"landing business date(s) {dates[0].isoformat()}..{dates[-1].isoformat()} from {toast_sftp.describe()}",
            backoff=network_backoff(),
            is_transient=lambda exc: connected and is_transient(exc),
            on_retry=on_retry,
        )
    except (HostKeyError, SftpAuthError, LakeWriteError) as exc:
        # No wait fixes an untrusted host key, a refused login or a full lake disk: fail now,
        # without step retries, and say what to fix.
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    seconds = round(time.monotonic() - started, 3)
    missing = {d: sorted(set(expected) - report.locations_by_date.get(d, set())) for d in dates}
    for d, locations in missing.items():
        if locations:
            context.log.warning(f"business date {d}: no export folder yet for location(s) {', '.join(locations)}")
    if report.unrecognized_files:
        context.log.info(f"kept {len(report.unrecognized_files)} file(s) outside the contract: {report.unrecognized_files[:10]}")
    if report.skipped_entries:
        shown = "; ".join(f"{path} ({why})" for path, why in list(report.skipped_entries.items())[:10])
        context.log.warning(f"skipped {len(report.skipped_entries)} item(s) on the export server that are not Toast export folders or files (nothing of them is landed): {shown}")
    context.log.info(
        f"landed {sum(e.downloaded for e in report.by_entity.values())} new or changed file(s) from "
        f"{toast_sftp.describe()} into {lake.describe()} for {len(dates)} business date(s) in {seconds}s"
    )
    for toast_file in TOAST_FILES:
        if toast_file.entity in entities:
            yield dg.MaterializeResult(
                asset_key=[LANDING_GROUP, toast_file.entity],
                metadata={
                    **_metadata(toast_file.entity, toast_file.file_name, report, expected, seconds),
                    # How flaky the SFTP link was for this landing: plotted over time in the UI.
                    "connection_retries": dg.MetadataValue.int(len(retries)),
                    "step_attempt": dg.MetadataValue.int(context.retry_number + 1),
                },
            )


def _metadata(entity: str, file_name: str, report: LandingReport, expected: list[str], seconds: float) -> dict:
    stats = report.by_entity.get(entity)
    files, downloaded, unchanged, size = (stats.files, stats.downloaded, stats.unchanged, stats.bytes) if stats else (0, 0, 0, 0)
    delivered = defaultdict(set)
    for location_id, business_date in stats.locations if stats else set():
        delivered[business_date].add(location_id)
    rows, complete = [], 0
    for d in report.dates:
        folders = report.locations_by_date.get(d, set())
        no_folder = sorted(set(expected) - folders)
        no_file = sorted(folders - delivered.get(d, set()))
        if no_folder or no_file or len(report.dates) <= DELIVERY_TABLE_ROWS:
            rows.append(f"| {d} | {len(delivered.get(d, ()))} | {', '.join(no_folder) or '–'} | {', '.join(no_file) or '–'} |")
        else:
            complete += 1
    table = "\n".join(
        [
            f"| business date | locations with {file_name} | no export folder | folder without this file |",
            "|---|---|---|---|",
            *rows[:DELIVERY_TABLE_ROWS],
        ]
    )
    if len(rows) > DELIVERY_TABLE_ROWS:
        table += f"\n\n{len(rows) - DELIVERY_TABLE_ROWS} more business date(s) with a location missing: the `files_complete` check on toast_raw/file_manifest lists each."
    if complete:
        table += f"\n\n{complete} other business date(s): a folder and {file_name} from every expected location."
    found = sorted({loc for loc, _ in stats.locations} if stats else set())
    return {
        "files": dg.MetadataValue.int(files),
        "files_downloaded": dg.MetadataValue.int(downloaded),
        "files_unchanged": dg.MetadataValue.int(unchanged),
        "bytes": dg.MetadataValue.int(size),
        "business_dates": dg.MetadataValue.int(len(report.dates)),
        "locations_found": dg.MetadataValue.text(", ".join(found) or "none"),
        "locations_missing": dg.MetadataValue.int(sum(len(set(expected) - report.locations_by_date.get(d, set())) for d in report.dates)),
        "landing_seconds": dg.MetadataValue.float(seconds),
        "deliveries": dg.MetadataValue.md(table),
    }
