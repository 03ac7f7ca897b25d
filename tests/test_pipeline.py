"""End to end through Dagster: generated exports → bundled SFTP server over TCP → lake → DuckDB.

Expected row counts are counted from the generated CSV files with the `csv` module; nothing
expected is read from the pipeline's own tables or manifests.
"""

import csv
import hashlib
import os
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pipeline_resources import pipeline_resources

from toast_assets.contract import BY_ENTITY, TOAST_FILES, file_for_name
from toast_assets.contract.layout import parse_date_folder
from toast_assets.demo.generator import generate
from toast_assets.landing.assets import toast_landing
from toast_assets.raw.assets import toast_raw
from toast_assets.sftp.assets import toast_sftp_files

START = date(2026, 10, 1)
DAYS = 5
END = START + timedelta(days=DAYS - 1)
LOCATIONS = 3


def source_counts(root: Path) -> Counter:
    """(entity, location, date) → data records, read straight from the export files."""
    counts: Counter = Counter()
    for location in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        for folder in sorted(location.iterdir()):
            business_date = parse_date_folder(folder.name)
            if business_date is None:
                continue
            for path in folder.iterdir():
                toast_file = file_for_name(path.name)
                if toast_file is None:
                    continue
                with path.open(newline="", encoding="utf-8-sig") as handle:
                    rows = [row for row in csv.reader(handle) if row]
                counts[(toast_file.entity, location.name, business_date)] = max(len(rows) - 1, 0)
    return counts


def warehouse_counts(db: Path) -> tuple[Counter, Counter]:
    loaded: Counter = Counter()
    quarantined: Counter = Counter()
    with duckdb.connect(str(db), read_only=True) as conn:
        for toast_file in TOAST_FILES:
            for location, business_date, n in conn.execute(
                f"SELECT _location_id, _business_date, count(*) FROM toast_raw.{toast_file.entity} GROUP BY 1, 2"
            ).fetchall():
                loaded[(toast_file.entity, location, business_date)] = n
        for entity, location, business_date, n in conn.execute(
            "SELECT entity, location_id, business_date, count(DISTINCT row_number) FROM toast_raw.quarantine GROUP BY 1, 2, 3"
        ).fetchall():
            quarantined[(entity, location, business_date)] = n
    return loaded, quarantined


def table_fingerprints(db: Path) -> dict[tuple[str, date], str]:
    """A digest of every (entity, date)'s rows, load time excluded, to see exactly what changed."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as conn:
        for toast_file in TOAST_FILES:
            rows = conn.execute(
                f"SELECT * EXCLUDE (_loaded_at) FROM toast_raw.{toast_file.entity} ORDER BY _business_date, _location_id, _row_number"
            ).fetchall()
            by_date: dict[date, list] = {}
            for row in rows:
                by_date.setdefault(row[-4], []).append(row)
            for business_date, day_rows in by_date.items():
                out[(toast_file.entity, business_date)] = hashlib.sha256(repr(day_rows).encode()).hexdigest()
    return out


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toast_sftp_root")
    generate(root, START, END, locations=LOCATIONS, seed=11)
    return root


def run_range(resources: dict, instance: dg.DagsterInstance, start: date, end: date) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*toast_sftp_files, toast_landing, toast_raw],
        resources=resources,
        instance=instance,
        tags={"dagster/asset_partition_range_start": start.isoformat(), "dagster/asset_partition_range_end": end.isoformat()},
    )


def test_range_lands_and_loads_every_row_once(exports: Path, make_sftp_server, tmp_path: Path) -> None:
    server, settings = make_sftp_server(exports)
    db = tmp_path / "toast.duckdb"
    resources = pipeline_resources(settings, tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    expected = source_counts(exports)
    assert len({k[1] for k in expected}) == LOCATIONS and len({k[2] for k in expected}) == DAYS

    result = run_range(resources, instance, START, END)
    assert result.success
    assert len(instance.get_runs()) == 1, "a range is one run"
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]

    loaded, quarantined = warehouse_counts(db)
    for key, rows in expected.items():
        assert loaded[key] + quarantined[key] == rows, key
    assert sum(quarantined.values()) == 0  # the generator writes no broken rows
    assert set(k for k, v in loaded.items() if v) <= set(expected)

    # Landing recorded what it copied, and the lake holds the bytes untouched.
    lake_files = [p for p in (tmp_path / "lake" / "toast").rglob("*.csv")]
    source_files = [p for p in exports.rglob("*.csv") if parse_date_folder(p.parent.name)]
    assert len(lake_files) == len(source_files)
    by_name = {(p.parent.parent.name, p.parent.name, p.name): p for p in source_files}
    for landed in lake_files:
        location = landed.parent.name.removeprefix("location=")
        day = landed.parent.parent.name.removeprefix("business_date=").replace("-", "")
        assert landed.read_bytes() == by_name[(location, day, landed.name)].read_bytes()

    # Natural keys are unique per location and date: nothing duplicated.
    with duckdb.connect(str(db), read_only=True) as conn:
        for toast_file in TOAST_FILES:
            key = ", ".join(toast_file.natural_key)
            dupes = conn.execute(
                f"SELECT count(*) FROM (SELECT _location_id, _business_date, {key} FROM toast_raw.{toast_file.entity} "
                f"GROUP BY ALL HAVING count(*) > 1)"
            ).fetchone()[0]
            assert dupes == 0, toast_file.entity

    # Re-running the same range changes nothing.
    before = table_fingerprints(db)
    assert run_range(resources, instance, START, END).success
    assert table_fingerprints(db) == before
    assert warehouse_counts(db)[0] == loaded
    landing_meta = instance.get_latest_materialization_event(dg.AssetKey(["toast_landing", "order_details"])).asset_materialization.metadata
    assert landing_meta["files_downloaded"].value == 0, "unchanged files are not downloaded again"

    # A corrected re-delivery of one file for one date: only that date of that entity changes.
    changed_day = START + timedelta(days=1)
    location = sorted(p.name for p in exports.iterdir() if p.name.isdigit())[0]
    path = exports / location / changed_day.strftime("%Y%m%d") / "OrderDetails.csv"
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    total = BY_ENTITY["order_details"].headers.index("Total")
    header_total = [h.lstrip("\ufeff") for h in rows[0]].index("Total")
    assert total >= 0
    rows[1][header_total] = "999.99"
    raw = path.read_bytes()
    with path.open("w", newline="", encoding="utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    os.utime(path, (2_000_000_000, 2_000_000_000))

    assert run_range(resources, instance, START, END).success
    after = table_fingerprints(db)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {("order_details", changed_day)}
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM toast_raw.order_details WHERE total = '999.99' AND _location_id = ? AND _business_date = ?",
            [location, changed_day],
        ).fetchone()[0] == 1
    assert warehouse_counts(db)[0] == loaded
    server.stop()


def test_single_day_partition_uses_the_same_path(exports: Path, make_sftp_server, tmp_path: Path) -> None:
    _, settings = make_sftp_server(exports)
    db = tmp_path / "toast.duckdb"
    # The pinned-fingerprint path instead of known_hosts.
    resources = pipeline_resources(settings, tmp_path, known_hosts_path=None, host_key_fingerprint=_fingerprint_of(settings))
    result = dg.materialize([*toast_sftp_files, toast_landing, toast_raw], resources=resources, partition_key=END.isoformat())
    assert result.success
    expected = {k: v for k, v in source_counts(exports).items() if k[2] == END}
    loaded, _ = warehouse_counts(db)
    assert {k: v for k, v in loaded.items() if v} == {k: v for k, v in expected.items() if v}


def _fingerprint_of(settings) -> str:
    """The pinned-fingerprint form of the test server's host key, read from its known_hosts line."""
    import base64

    line = Path(settings.known_hosts_path).read_text().split()
    digest = hashlib.sha256(base64.b64decode(line[2])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
