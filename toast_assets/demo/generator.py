"""Seeded demo data: a Toast-style export tree `<root>/<export_id>/<YYYYMMDD>/<File>.csv`.

The same seed and arguments give byte-identical files. Each location-day draws from its own
random stream, so a location's day does not change when other locations or dates are added.
By default the tree carries the traps of real exports (see `traps.TrapPlan`); `traps=False`
gives plain, clean files in the contract's default column order.

The numbers agree exactly across files, so marts recomputed from the CSVs reconcile:
order `Total` = `Amount` + `Tax` + `Tip` + `Gratuity`, `Amount` = net price of the items that
are neither voided nor deferred, captured payments = `Total` (`order_model` has the rules);
the product mix counts deferred gift-card sales with the other items (`product_mix`).

    python -m toast_assets.demo.generator --out DIR --start 2026-10-01 --days 14 --locations 3

Modules: `locations` (the group's catalog), `menu`/`menu_data`, `profile` (staff, guests),
`day` (one location-day), `front_of_house`/`payments`/`kitchen` (service), `labor`, `cash`,
`product_mix`, `clock` and `csvtext` (fast cell text), `traps` (where the traps are).
"""

import argparse
import gc
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from operator import itemgetter
from pathlib import Path

from toast_assets.contract import TOAST_FILES
from toast_assets.demo.csvtext import quote
from toast_assets.demo.day import DEFAULT_ORDERS_PER_DAY, MAX_ORDERS_PER_DAY, simulate_day
from toast_assets.demo.locations import LOCATION_NAMES, LocationInfo, export_ids, location_catalog, locations_for
from toast_assets.demo.profile import build_profile
from toast_assets.demo.traps import TrapPlan, trap_plan

__all__ = [
    "LOCATION_NAMES",
    "GenerationSummary",
    "TrapPlan",
    "export_ids",
    "generate",
    "location_catalog",
    "main",
    "trap_plan",
]

BOM = "\ufeff".encode()

# Values of the drifting location's extra column, cycled row by row.
_EXTRA_VALUES = ("", "Gold", "", "Silver", "", "Bronze", "Platinum")

_STRAY_NOTE = "Not an export folder: loaders must skip entries that are not YYYYMMDD dates.\n"
_README = (
    "Demo Toast export tree written by toast_assets.demo.generator.\n"
    "Layout: <export_id>/<YYYYMMDD>/<File>.csv, one folder per location and business date.\n"
    "This file is not an export: loaders must skip it.\n"
)


@dataclass(frozen=True)
class GenerationSummary:
    """What one `generate()` call wrote: locations, business dates, CSV files, data rows, bytes."""

    export_ids: list[str]
    dates: list[date]
    files: int  # CSV export files written (stray entries not counted)
    rows: int  # data rows, header lines excluded
    bytes: int  # size of the CSV files
    plan: TrapPlan

    def line(self, root: Path, seconds: float | None = None) -> str:
        """One-line summary for the command line."""
        speed = f" in {seconds:.1f}s ({self.rows / seconds:,.0f} rows/s)" if seconds else ""
        span = f"{self.dates[0]:%Y-%m-%d}..{self.dates[-1]:%Y-%m-%d}" if self.dates else "no dates"
        return (
            f"wrote {self.files:,} files, {self.rows:,} rows, {self.bytes / 1e6:,.1f} MB for "
            f"{len(self.export_ids)} locations x {len(self.dates)} days ({span}) to {root}{speed}"
            f"{'' if self.plan.enabled else ' [no traps]'}"
        )


def business_dates(start: date, end: date) -> list[date]:
    """Every date from start to end, both included."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def _file_text(header: list[str], rows: list[list[str]], drift: itemgetter | None) -> str:
    """CSV text with `\\n` line endings; cells are prebuilt, so joining is exact QUOTE_MINIMAL."""
    lines = [",".join(quote(h) for h in header)]
    if drift is None:
        lines.extend(",".join(row) for row in rows)
    else:
        # The drifting location: extra column appended, then every cell moved to its position.
        extras = _EXTRA_VALUES
        lines.extend(",".join(drift([*row, extras[n % len(extras)]])) for n, row in enumerate(rows))
    lines.append("")
    return "\n".join(lines)


def _drift_getters(plan: TrapPlan) -> dict[str, itemgetter]:
    """Per file: picks cells (default order + extra column last) in the drifted header order."""
    getters = {}
    for toast_file in TOAST_FILES:
        if toast_file.file_name not in plan.reordered_headers:
            continue
        positions = {header: i for i, header in enumerate(toast_file.headers)}
        positions[plan.extra_column_header or ""] = len(toast_file.headers)
        drifted = plan.reordered_headers[toast_file.file_name]
        getters[toast_file.file_name] = itemgetter(*(positions[h] for h in drifted))
    return getters


def _write_location_day(
    folder: Path,
    location: LocationInfo,
    business_date: date,
    day_rows: dict[str, list[list[str]]] | None,
    plan: TrapPlan,
    drift: dict[str, itemgetter],
) -> tuple[int, int, int]:
    """Write one date folder; `day_rows=None` writes header-only files (a closed day).

    Returns (files, data rows, bytes) written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    files = rows_written = size = 0
    export_id = location.export_id
    for toast_file in TOAST_FILES:
        name = toast_file.file_name
        path = folder / name
        if plan.skips(export_id, business_date, name):
            path.unlink(missing_ok=True)  # a previous run may have left it
            continue
        rows = day_rows[name] if day_rows is not None else []
        header = plan.headers_for(export_id, name)
        data = _file_text(header, rows, drift.get(name) if export_id == plan.reordered_location else None).encode()
        if export_id == plan.bom_location and name == "OrderDetails.csv":
            data = BOM + data
        path.write_bytes(data)
        files += 1
        rows_written += len(rows)
        size += len(data)
    return files, rows_written, size


def _write_strays(root: Path, plan: TrapPlan) -> None:
    """Entries real SFTP roots carry beside the export folders."""
    if plan.stray_folder:
        folder = root / plan.stray_folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "notes.txt").write_bytes(_STRAY_NOTE.encode())
    if plan.stray_root_file:
        (root / plan.stray_root_file).write_bytes(_README.encode())


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while rows are built.

    A busy day allocates millions of small lists that never form reference cycles; the
    collector would rescan them over and over (about 15% of the run time). Reference counting
    still frees everything; the previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def generate(
    root: Path,
    start: date,
    end: date,
    locations: int = 3,
    seed: int = 7,
    *,
    traps: bool = True,
    orders_per_day: tuple[int, int] | None = None,
) -> GenerationSummary:
    """Write the export tree for `locations` locations and business dates start..end (inclusive).

    `orders_per_day` is the (quiet day, busiest day) range of orders per location-day,
    40-300 by default; `(n, n)` gives exactly n orders everywhere (benchmarks). Existing files
    of the same paths are overwritten; nothing else under root is touched, except the one file
    the trap plan leaves out, which is removed if an earlier run wrote it.
    """
    root = Path(root)
    low, high = orders_per_day or DEFAULT_ORDERS_PER_DAY
    if not 1 <= low <= high <= MAX_ORDERS_PER_DAY:
        raise ValueError(f"orders_per_day must satisfy 1 <= low <= high <= {MAX_ORDERS_PER_DAY}")
    dates = business_dates(start, end)
    infos = locations_for(locations, seed)
    ids = [info.export_id for info in infos]
    plan = trap_plan(ids, dates, enabled=traps)
    drift = _drift_getters(plan)

    root.mkdir(parents=True, exist_ok=True)
    files = rows = size = 0
    with _cyclic_gc_paused():
        for info in infos:
            profile = build_profile(info, seed, traps)
            for business_date in dates:
                day_rows = None
                if not plan.is_closed(info.export_id, business_date):
                    day_rows = simulate_day(profile, business_date, seed, plan.timestamp_styles, traps, (low, high))
                folder = root / info.export_id / f"{business_date:%Y%m%d}"
                written = _write_location_day(folder, info, business_date, day_rows, plan, drift)
                files += written[0]
                rows += written[1]
                size += written[2]
    _write_strays(root, plan)
    return GenerationSummary(export_ids=ids, dates=dates, files=files, rows=rows, bytes=size, plan=plan)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: output folder, date span, locations, seed, traps and volume."""
    parser = argparse.ArgumentParser(
        prog="toast-demo-data",
        description="Write a seeded, Toast-style nightly export tree <out>/<export_id>/<YYYYMMDD>/<File>.csv.",
    )
    parser.add_argument("--out", type=Path, required=True, help="root folder of the tree")
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first business date, YYYY-MM-DD")
    span = parser.add_mutually_exclusive_group()
    span.add_argument("--days", type=int, help="number of business dates (default 14)")
    span.add_argument("--end", type=date.fromisoformat, help="last business date, YYYY-MM-DD (inclusive)")
    parser.add_argument("--locations", type=int, default=3, help="number of locations (default 3)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--no-traps", action="store_true", help="plain clean files: no BOM, drift, gaps or strays")
    parser.add_argument(
        "--orders-per-day",
        type=int,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="orders per location-day, quietest to busiest weekday (default 40 300)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (`toast-demo-data`); prints a one-line summary."""
    args = _parse_args(argv)
    days = args.days if args.days is not None else 14
    if args.end is None and days < 1:
        print("--days must be at least 1", file=sys.stderr)
        return 2
    end = args.end or args.start + timedelta(days=days - 1)
    started = time.perf_counter()
    try:
        summary = generate(
            args.out,
            args.start,
            end,
            args.locations,
            args.seed,
            traps=not args.no_traps,
            orders_per_day=tuple(args.orders_per_day) if args.orders_per_day else None,
        )
    except ValueError as exc:
        print(f"toast-demo-data: {exc}", file=sys.stderr)
        return 2
    print(summary.line(args.out, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
