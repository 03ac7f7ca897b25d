"""`python -m benchmarks`: run the benchmark and write benchmarks/results.json and RESULTS.md.

    python -m benchmarks                      # the full configuration (make bench)
    python -m benchmarks --config quick       # a small configuration in minutes (make bench QUICK=1)
    python -m benchmarks --workloads day,scale --day-locations 100 --rounds 5
    python -m benchmarks --workloads day --merge  # re-measure one workload, keep the others
"""

import argparse
import json
import sys
from pathlib import Path

from benchmarks.report import targets_table, write
from benchmarks.runner import PROJECT_ROOT, merge_results, run_benchmark
from benchmarks.workloads import CONFIGS


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="full")
    parser.add_argument("--workloads", help="comma-separated subset of day,scale,backfill,year")
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / ".bench", help="generated trees and run state (default .bench/)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks", help="where results.json and RESULTS.md go")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--backfill-rounds", type=int)
    parser.add_argument("--year-rounds", type=int)
    parser.add_argument("--day-locations", type=int)
    parser.add_argument("--scale-locations", type=_ints, help="e.g. 10,50,100,200")
    parser.add_argument("--backfill-days", type=int)
    parser.add_argument("--backfill-locations", type=int)
    parser.add_argument("--year-days", type=int)
    parser.add_argument("--year-locations", type=int)
    parser.add_argument("--year-chunk-days", type=int)
    parser.add_argument("--orders", type=int, help="orders per location-day (default 480: ~6,000 rows)")
    parser.add_argument("--busy-threshold", type=float, help="foreign CPU load above which a round is discarded (0..1)")
    parser.add_argument("--max-extra-rounds", type=int)
    parser.add_argument("--note", help="a sentence for RESULTS.md (e.g. why a reduced configuration ran)")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the workloads of the existing results.json that this run does not measure (each with its own date and commit)",
    )
    args = parser.parse_args(argv)

    config = CONFIGS[args.config].with_overrides(
        workloads=tuple(args.workloads.split(",")) if args.workloads else None,
        rounds=args.rounds,
        backfill_rounds=args.backfill_rounds,
        year_rounds=args.year_rounds,
        day_locations=args.day_locations,
        scale_locations=args.scale_locations,
        backfill_days=args.backfill_days,
        backfill_locations=args.backfill_locations,
        year_days=args.year_days,
        year_locations=args.year_locations,
        year_chunk_days=args.year_chunk_days,
        orders=args.orders,
        busy_threshold=args.busy_threshold,
        max_extra_rounds=args.max_extra_rounds,
    )
    if config != CONFIGS[args.config]:
        config = config.with_overrides(name=f"{args.config} (overridden)")
    print(f"benchmark configuration {config.name}: {config}", flush=True)
    previous_path = args.out / "results.json"
    previous = json.loads(previous_path.read_text()) if args.merge and previous_path.exists() else None

    def save(partial: dict) -> dict:
        if args.note:
            partial["meta"]["notes"] = args.note
        if previous is not None:
            partial = merge_results(partial, previous)
        write(partial, args.out)  # after each workload: a long run that dies keeps what it measured
        return partial

    results = save(run_benchmark(config, args.workdir, log=lambda message: print(message, flush=True), on_workload=save))
    json_path, md_path = args.out / "results.json", args.out / "RESULTS.md"
    from benchmarks.report import evaluate

    targets, _ = evaluate(results)
    print()
    print(targets_table(targets))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
