"""Landing a big night over several SFTP connections, each in its own worker process.

Real parts throughout: the project's SFTP server over TCP, worker processes started the way
the landing step starts them, a lake folder. The lake a parallel landing leaves must be the
one a single connection leaves; a folder whose fetch fails is not landed, every other is, and
the error names the location and date. `PARALLEL_MIN_BYTES` is lowered so a small generated
tree takes the parallel path (the limit only decides when workers are worth starting).
"""

import csv
import hashlib
import io
import json
import os
import sys
from datetime import date
from pathlib import Path

import pytest
from sftp_fixtures import SftpServerFactory

from toast_assets.demo.generator import GenerationSummary, generate
from toast_assets.landing import fetch
from toast_assets.landing.fetch import FetchWorkerError, ParallelFetch
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import LandingReport, land, read_manifest
from toast_assets.sftp.client import SftpError, SftpSettings, ToastSftpClient

START, END = date(2026, 3, 2), date(2026, 3, 3)


@pytest.fixture
def served(make_sftp_server: SftpServerFactory, tmp_path: Path) -> tuple[Path, GenerationSummary, SftpSettings]:
    root = tmp_path / "exports"
    summary = generate(root, START, END, locations=3, seed=11, orders_per_day=(20, 30))
    _, settings = make_sftp_server(root)
    return root, summary, settings


@pytest.fixture
def workers_started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every fetch worker's process id, recorded as the real workers start; any night counts
    as big."""
    monkeypatch.setattr(fetch, "PARALLEL_MIN_BYTES", 0)
    started: list[int] = []
    start = fetch._start_worker

    def recording() -> object:
        worker = start()
        started.append(worker.pid)
        return worker

    monkeypatch.setattr(fetch, "_start_worker", recording)
    return started


def lake_state(root: Path) -> dict[str, str]:
    """sha256 of every lake object; manifests without their landing times."""
    state = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "_staging" not in p.parts):
        payload = path.read_bytes()
        if path.name.endswith(".json"):
            manifest = json.loads(payload)
            for entry in manifest.get("files", {}).values():
                entry.pop("landed_at")
            payload = json.dumps(manifest, sort_keys=True).encode()
        state[path.relative_to(root).as_posix()] = hashlib.sha256(payload).hexdigest()
    return state


def records(payload: bytes) -> int:
    """Data records of a CSV file by the csv module: non-empty rows after the first non-blank one."""
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = payload.decode("latin-1")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=False))
    first = next((i for i, row in enumerate(rows) if any(cell.strip() for cell in row)), len(rows))
    return sum(1 for row in rows[first + 1 :] if row)


def downloaded(report: LandingReport) -> int:
    return sum(entity.downloaded for entity in report.by_entity.values())


def land_over(
    settings: SftpSettings, lake: LocalLakeResource, dates: list[date], parallel: ParallelFetch | None
) -> LandingReport:
    with ToastSftpClient(settings) as client:
        return land(client, lake, dates, parallel=parallel)


def test_three_connections_land_what_one_lands(served, workers_started: list[int], tmp_path: Path) -> None:
    root, summary, settings = served
    one, three = LocalLakeResource(root=str(tmp_path / "one")), LocalLakeResource(root=str(tmp_path / "three"))

    single = land_over(settings, one, summary.dates, None)
    assert workers_started == []
    parallel = land_over(settings, three, summary.dates, ParallelFetch(settings, 3))

    assert len(workers_started) == 3 and os.getpid() not in workers_started
    assert downloaded(parallel) == downloaded(single) >= summary.files
    assert {e: (s.files, s.bytes) for e, s in parallel.by_entity.items()} == {
        e: (s.files, s.bytes) for e, s in single.by_entity.items()
    }
    assert lake_state(tmp_path / "three") == lake_state(tmp_path / "one")
    # Byte for byte what the server holds, with the counts taken from the source files.
    for business_date in summary.dates:
        for export_id in summary.export_ids:
            manifest = read_manifest(three, business_date, export_id)
            assert manifest is not None
            for name, landed in manifest.files.items():
                source = (root / export_id / f"{business_date:%Y%m%d}" / name).read_bytes()
                assert three.get_bytes(landed.key) == source
                assert landed.sha256 == hashlib.sha256(source).hexdigest()
                if landed.records is not None:
                    assert landed.records == records(source), landed.key

    # Landing again over workers finds everything unchanged and starts none.
    again = land_over(settings, three, summary.dates, ParallelFetch(settings, 3))
    assert downloaded(again) == 0 and len(workers_started) == 3


def test_a_night_below_the_limit_is_fetched_in_the_step(
    served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, summary, settings = served

    def refuse() -> None:
        raise AssertionError("a worker was started for a small night")

    monkeypatch.setattr(fetch, "_start_worker", refuse)
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    assert summary.bytes < fetch.PARALLEL_MIN_BYTES
    assert downloaded(land_over(settings, lake, summary.dates, ParallelFetch(settings, 4))) >= summary.files


def test_a_folder_that_fails_in_a_worker_is_not_landed_and_the_rest_is(
    served, workers_started: list[int], tmp_path: Path
) -> None:
    root, summary, settings = served
    victim_location, victim_date = summary.export_ids[1], summary.dates[1]
    victim = root / victim_location / f"{victim_date:%Y%m%d}" / "OrderDetails.csv"
    kept = victim.read_bytes()

    class RemovedAfterListing(ParallelFetch):
        def run(self, folders):
            victim.unlink()  # listed, then gone before a worker reads it
            yield from super().run(folders)

    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    with pytest.raises(SftpError) as raised:
        land_over(settings, lake, summary.dates, RemovedAfterListing(settings, 2))
    message = str(raised.value)
    assert "OrderDetails.csv" in message and victim_location in message and victim_date.isoformat() in message
    assert len(workers_started) == 2
    for business_date in summary.dates:
        for export_id in summary.export_ids:
            manifest = read_manifest(lake, business_date, export_id)
            if (export_id, business_date) == (victim_location, victim_date):
                assert manifest is None
            else:
                assert manifest is not None and len(manifest.files) == len(
                    list((root / export_id / f"{business_date:%Y%m%d}").iterdir())
                )

    # Once the file is back, the next try fetches only that folder.
    victim.write_bytes(kept)
    again = land_over(settings, lake, summary.dates, ParallelFetch(settings, 2))
    assert downloaded(again) == len(list(victim.parent.iterdir()))
    assert read_manifest(lake, victim_date, victim_location) is not None


def test_a_worker_that_dies_is_reported_and_the_other_workers_folders_land(
    served, workers_started: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, summary, settings = served
    start = fetch._start_worker
    calls: list[int] = []

    def first_one_dies() -> object:
        calls.append(1)
        if len(calls) == 1:
            # A worker killed before it answers (out of memory, a stray signal): exit code 9.
            return fetch.subprocess.Popen(
                [sys.executable, "-c", "import sys; sys.exit(9)"],
                stdin=fetch.subprocess.PIPE,
                stdout=fetch.subprocess.PIPE,
            )
        return start()

    monkeypatch.setattr(fetch, "_start_worker", first_one_dies)
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    with pytest.raises(
        FetchWorkerError, match=r"exited with code 9 before it fetched location \d+, business date 2026-03-0\d"
    ):
        land_over(settings, lake, summary.dates, ParallelFetch(settings, 2))
    landed = [(d, e) for d in summary.dates for e in summary.export_ids if read_manifest(lake, d, e) is not None]
    assert 0 < len(landed) < len(summary.dates) * len(summary.export_ids)

    monkeypatch.setattr(fetch, "_start_worker", start)
    again = land_over(settings, lake, summary.dates, ParallelFetch(settings, 2))
    assert downloaded(again) > 0
    assert all(read_manifest(lake, d, e) is not None for d in summary.dates for e in summary.export_ids)
