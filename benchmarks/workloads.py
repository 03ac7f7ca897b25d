"""The benchmark's workloads: demo-generator export trees at busy-day volumes.

Every workload is a set of locations × business dates written once by the demo generator
(seeded, so the bytes are the same on every machine) and cached under the work directory,
keyed by its parameters. Sizes are configurable so a quick smoke run and the full run share
the code; `FULL` is what `make bench` runs, `QUICK` what `make bench QUICK=1` runs.
"""

import json
import shutil
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from toast_assets.demo.generator import generate

# A Monday, early enough that a year of daily partitions has passed (partitions end today).
FIRST_DATE = date(2025, 3, 3)
PARTITIONS_START = "2025-01-01"
# ~480 orders per location-day give ~6,000 rows (~1.5 MB) over the nine files: 200
# locations make the ~1.2 M rows of the day-200.
BUSY_DAY_ORDERS = 480


@dataclass(frozen=True)
class TreeSpec:
    """One generated export tree."""

    locations: int
    days: int
    orders: int = BUSY_DAY_ORDERS
    start: date = FIRST_DATE
    seed: int = 7
    # Clean files: one header layout per file type, so every path (the bare DuckDB read
    # included) reads each entity with one multi-file scan. The traps (BOM, drifted headers,
    # gaps) are the tests' business; here they would only add sniffing to the references.
    traps: bool = False

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    @property
    def name(self) -> str:
        kind = "traps" if self.traps else "clean"
        return f"loc{self.locations}-days{self.days}-orders{self.orders}-seed{self.seed}-{self.start:%Y%m%d}-{kind}"

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


@dataclass(frozen=True)
class Config:
    """Sizes of every workload and how many rounds each gets."""

    name: str
    day_locations: int = 200  # day-200
    scale_locations: tuple[int, ...] = (10, 50, 100, 200)
    backfill_days: int = 30
    backfill_locations: int = 5
    year_days: int = 365
    year_locations: int = 5
    year_chunk_days: int = 31  # the month-chunked variant: ceil(365 / 31) = 12 runs
    orders: int = BUSY_DAY_ORDERS
    rounds: int = 5  # measured rounds of the day and scale workloads (after one warm-up)
    backfill_rounds: int = 5
    year_rounds: int = 1  # a year is long: one measured round after the warm-up by default
    max_extra_rounds: int = 3  # rounds re-run when the machine was busy
    busy_threshold: float = 0.25  # foreign CPU load (share of all cores) above which a round is discarded
    workloads: tuple[str, ...] = ("day", "scale", "backfill", "year")
    warmup: bool = True  # one unrecorded round first (off only for the smoke test)
    empty_date_runs: bool = True  # the day workload also times a run of a date without files
    postgres_instance: bool = True  # the day workload also runs on production's instance storage

    def with_overrides(self, **values: object) -> "Config":
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_json(self) -> dict:
        return asdict(self)


FULL = Config(name="full")
QUICK = Config(
    name="quick",
    day_locations=10,
    scale_locations=(2, 5, 10),
    backfill_days=5,
    backfill_locations=2,
    year_days=14,
    year_locations=2,
    year_chunk_days=7,
    orders=120,
    rounds=3,
    backfill_rounds=2,
    year_rounds=1,
    max_extra_rounds=1,
)
# The smoke test: seconds, not minutes.
TINY = Config(
    name="tiny",
    day_locations=2,
    scale_locations=(1, 2),
    backfill_days=2,
    backfill_locations=1,
    year_days=3,
    year_locations=1,
    year_chunk_days=2,
    orders=20,
    rounds=1,
    backfill_rounds=1,
    year_rounds=1,
    max_extra_rounds=0,
    busy_threshold=1.0,
    workloads=("day",),
    warmup=False,
    empty_date_runs=False,
    postgres_instance=False,
)
CONFIGS = {c.name: c for c in (FULL, QUICK, TINY)}


@dataclass
class Tree:
    """A generated tree on disk and what the generator wrote."""

    spec: TreeSpec
    root: Path
    files: int
    rows: int
    bytes: int
    export_ids: list[str] = field(default_factory=list)

    def csv_paths(self, dates: list[date] | None = None) -> list[Path]:
        """The export files of these dates (every date when None), in a stable order."""
        wanted = {f"{d:%Y%m%d}" for d in dates} if dates is not None else None
        out = []
        for export_id in self.export_ids:
            for folder in sorted((self.root / export_id).iterdir()):
                if folder.is_dir() and (wanted is None or folder.name in wanted) and folder.name.isdigit():
                    out += sorted(p for p in folder.iterdir() if p.suffix == ".csv")
        return out


def ensure_tree(spec: TreeSpec, workdir: Path) -> Tree:
    """The export tree for `spec`, generated once and reused while its summary file exists."""
    base = workdir / "exports" / spec.name
    summary_path = base / "summary.json"
    if summary_path.exists():
        data = json.loads(summary_path.read_text())
        return Tree(spec, base / "tree", data["files"], data["rows"], data["bytes"], data["export_ids"])
    shutil.rmtree(base, ignore_errors=True)
    (base / "tree").mkdir(parents=True)
    summary = generate(
        base / "tree",
        spec.start,
        spec.end,
        locations=spec.locations,
        seed=spec.seed,
        traps=spec.traps,
        orders_per_day=(spec.orders, spec.orders),
    )
    data = {"files": summary.files, "rows": summary.rows, "bytes": summary.bytes, "export_ids": summary.export_ids}
    summary_path.write_text(json.dumps(data))
    return Tree(spec, base / "tree", summary.files, summary.rows, summary.bytes, summary.export_ids)
