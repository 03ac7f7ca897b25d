"""The benchmark's machinery on a tiny workload: it runs, reports, and compares like with like.

Nothing here judges speed (this machine is shared): the test runs the `tiny` configuration
of `python -m benchmarks` (two locations, one date, one round, no warm-up; one real platform
run against OpenSSH's sshd, each reference path once) and checks that the report has its
shape and that every reference path really read the same files as the platform, counted
independently with the `csv` module.
"""

import csv
import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from benchmarks.report import write
from benchmarks.runner import merge_results, run_benchmark
from benchmarks.workloads import TINY, TreeSpec, ensure_tree
from toast_assets.contract import file_for_name

REFERENCE_PATHS = ("sftp_cli", "duckdb_bare", "direct_sql", "pandas_per_file", "dbt_startup")
# One real platform run (imports, a Dagster run, one dbt build) plus the references: a minute
# or two on a quiet machine, more on a busy one.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    workdir = tmp_path_factory.mktemp("bench")
    out = tmp_path_factory.mktemp("bench_out")
    results = run_benchmark(TINY, workdir, log=lambda message: None)
    write(results, out)
    return results, workdir, out


def _source_rows(tree_root: Path) -> Counter:
    """Data records per entity in the generated export files, by the csv module."""
    rows: Counter = Counter()
    for path in tree_root.rglob("*.csv"):
        toast_file = file_for_name(path.name)
        if toast_file is None or not path.parent.name.isdigit():
            continue
        with path.open(newline="", encoding="utf-8-sig") as handle:
            records = [row for row in csv.reader(handle) if row]
        rows[toast_file.entity] += max(len(records) - 1, 0)
    return rows


def test_report_has_every_path_round_and_target(bench: tuple[dict, Path, Path]) -> None:
    results, _, out = bench
    assert {"date", "machine", "config", "duration_seconds"} <= set(results["meta"])
    day = results["workloads"]["day"]
    assert set(day["paths"]) == {"platform", *REFERENCE_PATHS}
    for name, entry in day["paths"].items():
        for key in ("wall_seconds", "cpu_seconds", "peak_rss_bytes", "foreign_load"):
            stats = entry[key]
            assert stats["n"] == TINY.rounds and stats["min"] <= stats["median"] <= stats["max"], (name, key)
        assert entry["peak_rss_bytes"]["min"] > 0, name
    assert len(day["rounds"]) == TINY.rounds and day["kept_rounds"] == TINY.rounds
    assert all(0.0 <= r["foreign_load"] <= 1.0 for r in day["rounds"])

    platform = day["paths"]["platform"]
    stages = platform["stages"]
    for stage in ("landing_seconds", "raw_seconds", "dbt_seconds", "raw_load_seconds", "raw_validate_seconds", "orchestration_seconds"):
        assert stages[stage]["min"] >= 0, stage
    detail = platform["detail_of_fastest"]
    assert detail["success"] and detail["dbt_invocations"] == 1
    assert 0 < detail["contract_validations"] <= 9, "Pandera runs once per table per run, not per file"

    saved = json.loads((out / "results.json").read_text())
    ids = {t["id"] for t in saved["targets"]}
    assert {"end_to_end", "sftp_throughput", "sftp_per_file", "raw_load", "pandera", "orchestration", "vs_pandas"} <= ids
    assert all(t["met"] in (True, False, None) and t["measured"] for t in saved["targets"])
    markdown = (out / "RESULTS.md").read_text()
    assert "## Targets" in markdown and "| platform |" in markdown
    assert markdown.count(" met |") + markdown.count("**not met** |") + markdown.count("n/a |") >= len(ids)


def test_reference_paths_read_what_the_platform_loaded(bench: tuple[dict, Path, Path]) -> None:
    results, workdir, _ = bench
    day = results["workloads"]["day"]
    paths = day["paths"]
    tree = ensure_tree(TreeSpec(locations=TINY.day_locations, days=1, orders=TINY.orders), workdir)
    expected = _source_rows(tree.root)
    assert sum(expected.values()) == day["tree"]["rows"] > 0

    platform = paths["platform"]["detail_of_fastest"]
    assert {e: n for e, n in platform["rows_loaded"].items() if n} == {e: n for e, n in expected.items() if n}
    assert platform["rows_quarantined"] == 0
    assert paths["duckdb_bare"]["detail_of_fastest"]["rows"] == dict(expected)
    assert paths["pandas_per_file"]["detail_of_fastest"]["rows"] == dict(expected)

    sftp = paths["sftp_cli"]["detail_of_fastest"]
    assert sftp["files"] == platform["files_landed"] == day["tree"]["files"]
    assert sftp["bytes"] == platform["bytes_landed"] == day["tree"]["bytes"]

    # dbt's start-up: the platform's dbt, on the platform's project, with no node selected.
    log = workdir / "logs" / f"day{TINY.day_locations}-dbt_startup.log"
    names = [json.loads(line)["info"]["name"] for line in log.read_text().splitlines() if line.startswith("{")]
    assert "MainReportVersion" in names and "NothingToDo" in names, sorted(set(names))
    assert not {"NodeStart", "LogTestResult", "LogModelResult"} & set(names), "no node ran"

    # The direct SQL rebuilt the marts of the date on a copy: the same rows as dbt built.
    direct = paths["direct_sql"]["detail_of_fastest"]
    assert direct["nodes"] > 20 and direct["rows"]
    platform_db = workdir / "state" / f"day{TINY.day_locations}" / "toast.duckdb"
    day_iso = day["tree"]["first_date"]
    with duckdb.connect(str(platform_db), read_only=True) as conn:
        for relation, rows in direct["rows"].items():
            built = conn.execute(f"SELECT count(*) FROM {relation} WHERE business_date = ?", [day_iso]).fetchone()[0]
            assert rows == built > 0, relation


def test_merge_keeps_earlier_workloads_with_their_own_commit(bench: tuple[dict, Path, Path], tmp_path: Path) -> None:
    """`--merge`: re-measuring one workload keeps the others of results.json, each labelled
    with the run that measured it; a workload measured now replaces the earlier one."""
    results, _, _ = bench
    day = results["workloads"]["day"]
    assert day["measured"]["git_commit"] == results["meta"]["machine"]["git_commit"]
    earlier_meta = {**results["meta"], "date": "2026-01-02T03:04:05+00:00", "machine": {**results["meta"]["machine"], "git_commit": "abc1234"}}
    # An earlier results file without per-workload labels (as written before they existed).
    earlier_day = {k: v for k, v in day.items() if k != "measured"}
    earlier_meta["notes"] = "The year was measured at abc1234."
    earlier = {"meta": earlier_meta, "workloads": {"day": earlier_day, "year": {"tree": {"dates": 3}}}}

    merged = merge_results(results, earlier)
    assert merged["workloads"]["day"] is day, "the workload measured now wins"
    assert merged["workloads"]["year"]["tree"] == {"dates": 3}
    assert merged["workloads"]["year"]["measured"] == {"date": "2026-01-02T03:04:05+00:00", "git_commit": "abc1234", "config": results["meta"]["config"]["name"]}
    assert merged["meta"]["merged_from_previous"] == ["year"]
    assert merged["meta"]["notes"] == "The year was measured at abc1234.", "notes carry over unless --note is given"
    assert merge_results({**results, "meta": {**results["meta"], "notes": "now"}}, earlier)["meta"]["notes"] == "now"
    assert "year" not in results["workloads"], "merging does not change the run's own results"

    merged["workloads"].pop("year")  # the report needs a real workload; the label is what is checked
    merged["workloads"]["day"] = {**day, "measured": {"date": "2026-01-02T03:04:05+00:00", "git_commit": "abc1234", "config": "full"}}
    write(merged, tmp_path)
    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "Kept from an earlier benchmark run (`--merge`): year" in markdown
    assert "measured 2026-01-02T03:04:05+00:00 at commit abc1234 (configuration `full`)" in markdown
