"""One platform run, as production runs it: a fresh process, the code location, one Dagster run.

    python -m benchmarks.platform_run SPEC.json OUT.json

SPEC holds the environment (TOAST_* settings, DAGSTER_HOME) and the business dates. The
process imports `toast_assets.definitions` (configuration, resources, the dbt manifest) and
executes the `toast_daily` job in process for one partition or a partition range (one run,
single-run backfill policy), with the real resources. Everything it reports comes from the
run itself: step timings (RunStepStats), materialization metadata, the event log, plus
the time spent inside user code per step and the process's peak memory.

What the process does after the run, reading the run's record for this report, is the
benchmark's own bookkeeping: its time is reported (`bookkeeping_seconds`) and taken out of
the run's wall time, and the peak memory is read before it. A year's run has about 30,000
events; reading them all back cost seconds and memory that no production run spends, so
they are read in pages and only counted.

The time inside user code is measured by wrapping Dagster's `execute_core_compute` so each
pull from a step's compute generator is timed: what the run spends outside those pulls is
Dagster's own work (planning, resources, event handling and storage). If a Dagster upgrade
renames that function, the measurement degrades to "unknown" instead of failing the run.
"""

import time

PROCESS_STARTED = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from dagster import DagsterInstance

COMPUTE_SECONDS: dict[str, float] = defaultdict(float)
EVENT_PAGE = 2_000


def _patch_compute_timer() -> bool:
    """Time every pull from a step's compute generator (user code), per step key."""
    try:
        from dagster._core.execution.plan import execute_step
    except ImportError:
        return False
    original = getattr(execute_step, "execute_core_compute", None)
    if original is None:
        return False

    def timed_compute_fn(compute_fn, step_key: str):
        def run(context, inputs):
            started = time.perf_counter()
            result = compute_fn(context, inputs)
            COMPUTE_SECONDS[step_key] += time.perf_counter() - started
            if result is None or not hasattr(result, "__next__"):
                return result
            return _timed_iterator(result, step_key)

        return run

    def patched(step_context, inputs, compute_fn, compute_context):
        return original(step_context, inputs, timed_compute_fn(compute_fn, step_context.step.key), compute_context)

    execute_step.execute_core_compute = patched
    return True


def _timed_iterator(iterator: Iterator, step_key: str) -> Iterator:
    while True:
        started = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            COMPUTE_SECONDS[step_key] += time.perf_counter() - started
            return
        COMPUTE_SECONDS[step_key] += time.perf_counter() - started
        yield item


def _vm_hwm_bytes() -> int:
    """Peak resident memory of this process (VmHWM), bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _metadata_value(value: object) -> object:
    raw = getattr(value, "value", value)
    return raw if isinstance(raw, (int, float, str, bool)) or raw is None else str(raw)


def run(spec: dict) -> dict:
    os.environ.update(spec["env"])
    timer_installed = _patch_compute_timer()
    imports_started = time.perf_counter()
    import dagster as dg

    from toast_assets.definitions import defs

    definitions_loaded = time.perf_counter()
    job = defs.resolve_job_def("toast_daily")
    instance = dg.DagsterInstance.get()
    start, end = spec["start"], spec["end"]
    kwargs: dict = {"instance": instance, "raise_on_error": False}
    if start == end:
        kwargs["partition_key"] = start
    else:
        kwargs["tags"] = {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
    run_started = time.perf_counter()
    result = job.execute_in_process(**kwargs)
    run_finished = time.perf_counter()
    peak_rss_bytes = _vm_hwm_bytes()

    run_id = result.run_id
    stats = instance.get_run_stats(run_id)
    steps = []
    for step in instance.get_run_step_stats(run_id):
        steps.append(
            {
                "step": step.step_key,
                "status": step.status.value if step.status else None,
                "seconds": (step.end_time or 0) - (step.start_time or 0),
                "compute_seconds": round(COMPUTE_SECONDS.get(step.step_key, 0.0), 4) if timer_installed else None,
                "attempts": step.attempts,
            }
        )
    materializations: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        materializations["/".join(mat.asset_key.path)] = {k: _metadata_value(v) for k, v in mat.metadata.items()}
    checks = result.get_asset_check_evaluations()
    events, dbt_invocations = _count_events(instance, run_id)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "success": result.success,
        "run_id": run_id,
        "start": start,
        "end": end,
        "process_to_definitions_seconds": definitions_loaded - PROCESS_STARTED,
        "definitions_import_seconds": definitions_loaded - imports_started,
        "run_seconds": run_finished - run_started,
        "run_record_seconds": (stats.end_time or 0) - (stats.launch_time or stats.start_time or 0),
        "steps": steps,
        "compute_timer": timer_installed,
        "events": events,
        "dbt_invocations": dbt_invocations,
        "checks_failed": sorted(f"{'/'.join(c.asset_key.path)}:{c.check_name}" for c in checks if not c.passed),
        "checks": len(checks),
        "materializations": materializations,
        "peak_rss_bytes": peak_rss_bytes,
        "bookkeeping_peak_rss_bytes": _vm_hwm_bytes(),
        "peak_rss_children_bytes": children.ru_maxrss * 1024,
        "cpu_seconds": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        "bookkeeping_seconds": time.perf_counter() - run_finished,
    }


def _count_events(instance: "DagsterInstance", run_id: str) -> tuple[int, int]:
    """The run's events, and its dbt invocations (their log line), read a page at a time."""
    events = dbt_invocations = 0
    cursor = None
    while True:
        page = instance.get_records_for_run(run_id, cursor=cursor, limit=EVENT_PAGE)
        events += len(page.records)
        dbt_invocations += sum(
            1 for r in page.records if r.event_log_entry.user_message and "dbt build for business dates" in r.event_log_entry.user_message
        )
        if not page.has_more:
            return events, dbt_invocations
        cursor = page.cursor


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    out = run(spec)
    out["process_seconds"] = time.perf_counter() - PROCESS_STARTED
    Path(argv[1]).write_text(json.dumps(out, indent=1, default=str))
    return 0 if out["success"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
