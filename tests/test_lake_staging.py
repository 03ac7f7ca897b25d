"""Partial downloads a killed landing left in the lake's staging folder are removed later.

A landing stages each download as a `.part` file and removes it when it is committed or
fails; a landing process that is killed cannot. Here such leftovers are written by hand
(the kill itself is tests/test_faults_daemon.py's), aged with `os.utime`, and a real landing
over the bundled SFTP server (TCP) runs beside them: the stale one goes, a fresh one (another
landing's download in flight) stays, and the night lands complete. The GCS lake stages on
local disk; its staging needs no bucket, so it is exercised without the emulator.
"""

import os
import time
from datetime import date
from pathlib import Path

import pytest
from sftp_fixtures import SftpServerFactory

from toast_assets.demo.generator import generate
from toast_assets.landing import lake as lake_module
from toast_assets.landing.gcs_lake import GcsClientResource, GcsLakeResource
from toast_assets.landing.lake import STALE_STAGED_SECONDS, LocalLakeResource
from toast_assets.landing.landing import land, landed_files
from toast_assets.sftp.client import ToastSftpClient

DAY = date(2026, 3, 2)


@pytest.fixture(autouse=True)
def fresh_prune_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: no staging folder looked through yet."""
    monkeypatch.setattr(lake_module, "_last_pruned", {})


def leftover(folder: Path, name: str, age_seconds: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"Location,Order Id\n1,2\n")  # the start of a download, cut off
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def test_a_landing_removes_stale_partial_downloads_and_keeps_fresh_ones(
    make_sftp_server: SftpServerFactory, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    summary = generate(exports, DAY, DAY, locations=2, seed=5, orders_per_day=(10, 15))
    _, settings = make_sftp_server(exports)
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    staging = tmp_path / "lake" / "_staging"
    stale = leftover(staging, "tmpkilled.part", STALE_STAGED_SECONDS + 60)
    in_flight = leftover(staging, "tmpother.part", 60)
    not_staged = leftover(staging, "operator-notes.txt", STALE_STAGED_SECONDS * 10)

    with ToastSftpClient(settings) as client:
        land(client, lake, [DAY])

    assert not stale.exists(), "a partial download untouched for a day is removed"
    assert in_flight.exists(), "another landing's download in flight is kept"
    assert not_staged.exists(), "only staged downloads are removed"
    assert len(landed_files(lake, [DAY])) == summary.files, "the night lands complete"


def test_the_staging_folder_is_looked_through_at_most_once_an_hour(tmp_path: Path) -> None:
    """Thousands of files are staged a night: the folder is not listed for each."""
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    staging = tmp_path / "lake" / "_staging"
    first = leftover(staging, "first.part", STALE_STAGED_SECONDS + 60)
    with lake.staging_file():
        pass
    assert not first.exists()
    second = leftover(staging, "second.part", STALE_STAGED_SECONDS + 60)
    with lake.staging_file():
        pass
    assert second.exists(), "looked through a moment ago: not again yet"
    lake_module._last_pruned[(str(staging), "*.part")] -= 3601
    with lake.staging_file():
        pass
    assert not second.exists()


def test_the_gcs_lake_removes_its_own_stale_staged_files_only(tmp_path: Path) -> None:
    local = tmp_path / "staged"
    lake = GcsLakeResource(bucket="toast-lake", gcs=GcsClientResource(project="toast"), local_dir=str(local))
    stale = leftover(local, "toast-lake-abc123.part", STALE_STAGED_SECONDS + 60)
    fresh = leftover(local, "toast-lake-def456.part", 60)
    foreign = leftover(local, "other-tool.part", STALE_STAGED_SECONDS * 10)
    with lake.staging_file() as staged:
        assert staged.parent == local and staged.exists()
    assert not staged.exists()
    assert not stale.exists() and fresh.exists() and foreign.exists()


def test_the_gcs_lake_removes_download_folders_a_killed_load_left_a_day_ago(tmp_path: Path) -> None:
    """A raw load downloads the lake's files into a folder it removes when it ends; a killed
    load's folder stays. The next load removes such folders once they are a day old, and
    keeps a fresh one (another load's, in use) and other tools' folders."""
    local = tmp_path / "staged"
    lake = GcsLakeResource(bucket="toast-lake", gcs=GcsClientResource(project="toast"), local_dir=str(local))
    folders = {}
    for name, age in (("toast-lake-killed", STALE_STAGED_SECONDS + 60), ("toast-lake-running", 60), ("other-tool", STALE_STAGED_SECONDS * 10)):
        leftover(local / name / "order_details" / "20260302", "OrderDetails.csv", age)
        stamp = time.time() - age
        os.utime(local / name, (stamp, stamp))
        folders[name] = local / name
    staged_file = leftover(local, "toast-lake-old.part", STALE_STAGED_SECONDS + 60)
    with lake.local_paths([]) as paths:
        assert paths == {}
        in_use = [p for p in local.iterdir() if p.name.startswith("toast-lake-") and p not in folders.values()]
        assert len(in_use) == 2  # this load's folder, and the stale staged file left for staging_file
    assert not folders["toast-lake-killed"].exists()
    assert folders["toast-lake-running"].exists() and folders["other-tool"].exists()
    assert staged_file.exists(), "staged files are staging_file's to remove"
    assert sorted(p.name for p in local.iterdir()) == ["other-tool", "toast-lake-old.part", "toast-lake-running"]
