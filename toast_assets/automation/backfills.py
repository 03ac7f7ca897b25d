"""How a backfill over many business dates is cut into runs.

Every partitioned asset declares a single-run backfill policy: a year of history is one run
and one dbt invocation, which is by far the cheapest way here. A group that wants progress in
visible steps, or a bound on how much one failure re-does, sets `TOAST_BACKFILL_CHUNK_DAYS`:
a backfill then runs in chunks of that many dates, still one run (and one dbt call) per chunk.

    TOAST_BACKFILL_CHUNK_DAYS   business dates per backfill run (default: unset, the whole range)
"""

import os
from collections.abc import Mapping, Sequence

import dagster as dg

from toast_assets.settings import ConfigError


def backfill_chunk_days(env: Mapping[str, str] | None = None) -> int | None:
    """Dates per backfill run from `TOAST_BACKFILL_CHUNK_DAYS`; None for one run per backfill."""
    env = os.environ if env is None else env
    raw = (env.get("TOAST_BACKFILL_CHUNK_DAYS") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"TOAST_BACKFILL_CHUNK_DAYS={raw!r} must be a whole number of business dates, 1 or more (unset: one run per backfill)")
    return int(raw)


def with_backfill_chunks(assets: Sequence[dg.AssetsDefinition], days: int | None) -> list[dg.AssetsDefinition]:
    """The partitioned assets with backfills cut into runs of `days` dates (unchanged when None)."""
    if days is None:
        return list(assets)
    policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=days)
    return [a.with_attributes(backfill_policy=policy) if a.partitions_def is not None and a.is_executable else a for a in assets]
