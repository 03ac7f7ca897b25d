"""`make demo` / `make run` as a user runs them: the dagster CLI materializes a range in one run.

The demo goes into a temporary folder (TOAST_DEMO_DIR) with its own DAGSTER_HOME, so the
checkout stays clean; the bundled SFTP server is started and stopped by the command itself.
"""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb


def test_demo_then_run_a_subrange(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOAST_")}
    env.update({"TOAST_DEMO_DIR": str(tmp_path / "demo"), "DAGSTER_HOME": str(tmp_path / "dagster_home")})
    demo = subprocess.run(
        [sys.executable, "-m", "toast_assets.demo.cli", "demo", "--days", "3", "--locations", "2"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "bundled SFTP server stopped" in demo.stdout
    summary = demo.stdout.split("raw tables, business dates 2026-10-01 to 2026-10-03", 1)[1]
    assert "order_details" in summary and "quarantined" in summary

    db = tmp_path / "demo" / "data" / "toast.duckdb"
    with duckdb.connect(str(db), read_only=True) as conn:
        before = conn.execute("SELECT _business_date, count(*) FROM toast_raw.order_details GROUP BY 1 ORDER BY 1").fetchall()
    assert [d.isoformat() for d, _ in before] == ["2026-10-01", "2026-10-02", "2026-10-03"]

    run = subprocess.run(
        [sys.executable, "-m", "toast_assets.demo.cli", "run", "--start", "2026-10-02", "--end", "2026-10-03"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "--partition-range 2026-10-02...2026-10-03" in run.stdout
    with duckdb.connect(str(db), read_only=True) as conn:
        after = conn.execute("SELECT _business_date, count(*) FROM toast_raw.order_details GROUP BY 1 ORDER BY 1").fetchall()
    assert after == before

    instance = dg.DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    runs = instance.get_runs()
    assert len(runs) == 2 and all(r.is_success for r in runs)
    assert {r.tags.get("dagster/asset_partition_range_start") for r in runs} == {"2026-10-01", "2026-10-02"}
