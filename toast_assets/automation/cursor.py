"""What the arrival sensor remembers between ticks, and how it decides that a date is ready.

Pure code: no server, no Dagster, no clock. The sensor lists the server and passes what it saw
(`Listing`), the previous cursor, the expected locations and the time; `decide` says, per
business date, whether to run it now, wait, or leave it alone, and returns the next cursor.

The cursor is compact JSON. Per business date and location it keeps `files:bytes:digest`,
where the digest covers every file's name, size and mtime: enough to tell whether anything
changed between two looks (a file still being written changes size and mtime), without
storing a few hundred file entries in every tick. Per business date it keeps the digest of the
last state it asked a run for, so an unchanged date never runs twice and a corrected
re-delivery (a new digest) runs again.

    {"v": 1,
     "look": {"2026-10-01": {"185129": "9:482113:3f0c2a9b1e77"}},
     "ran":  {"2026-10-01": "a41c0b9e27d3f5aa"}}
"""

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Literal

CURSOR_VERSION = 1

# (file name, size in bytes, modification time in epoch seconds), as the server lists it.
FileState = tuple[str, int, int]
# Business date -> location (export id) -> the files of that location for that date.
Listing = Mapping[date, Mapping[str, Sequence[FileState]]]

Action = Literal["run", "wait", "unchanged", "landed"]
Trigger = Literal["complete", "cutoff", "redelivery"]


@dataclass(frozen=True)
class ArrivalSettings:
    """When a date counts as delivered.

    `settle_seconds`: files whose newest mtime is at least this old are complete even on the
    first look (otherwise they must look the same on two consecutive ticks).
    `cutoff_seconds`: this long after a date's first file was written, the date runs with the
    locations that have delivered; the missing ones re-trigger it when they arrive.
    """

    settle_seconds: float = 600.0
    cutoff_seconds: float = 4 * 3600.0


@dataclass
class ArrivalCursor:
    """The previous look per date and location, and the state each date last ran for."""

    look: dict[str, dict[str, str]] = field(default_factory=dict)
    ran: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {"v": CURSOR_VERSION, "look": self.look, "ran": self.ran}
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "ArrivalCursor":
        """The cursor stored by the previous tick; empty for a first tick or an unknown format
        (the sensor then judges every date afresh, and run keys keep that harmless)."""
        if not text:
            return cls()
        try:
            body = json.loads(text)
        except ValueError:
            return cls()
        if not isinstance(body, dict) or body.get("v") != CURSOR_VERSION:
            return cls()
        look = body.get("look") if isinstance(body.get("look"), dict) else {}
        ran = body.get("ran") if isinstance(body.get("ran"), dict) else {}
        return cls(
            look={str(d): {str(k): str(v) for k, v in locs.items()} for d, locs in look.items() if isinstance(locs, dict)},
            ran={str(d): str(v) for d, v in ran.items()},
        )


@dataclass(frozen=True)
class DateDecision:
    """What the sensor does with one business date this tick, and why, in an operator's words."""

    business_date: date
    action: Action
    reason: str
    digest: str
    locations: tuple[str, ...]
    missing: tuple[str, ...] = ()
    trigger: Trigger | None = None

    @property
    def run_key(self) -> str:
        """Same date and same files give the same key, so Dagster never launches it twice."""
        return f"{self.business_date.isoformat()}:{self.digest}"


def location_summary(files: Sequence[FileState]) -> str:
    """`files:bytes:digest` of one location's files for one date (order does not matter)."""
    digest = hashlib.sha256()
    for name, size, mtime in sorted(files):
        digest.update(f"{name}\t{size}\t{mtime}\n".encode())
    return f"{len(files)}:{sum(size for _, size, _ in files)}:{digest.hexdigest()[:12]}"


def date_digest(locations: Mapping[str, Sequence[FileState]]) -> str:
    """One digest for everything delivered for a date, over all locations."""
    digest = hashlib.sha256()
    for location in sorted(locations):
        digest.update(f"{location}={location_summary(locations[location])}\n".encode())
    return digest.hexdigest()[:16]


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def decide(
    listing: Listing,
    previous: ArrivalCursor,
    expected: Sequence[str],
    now: float,
    settings: ArrivalSettings,
    already_landed: Callable[[date, Mapping[str, Sequence[FileState]]], bool] = lambda d, files: False,
) -> tuple[list[DateDecision], ArrivalCursor]:
    """Judge every business date of the listing; returns the decisions and the next cursor.

    A date runs when every expected location has files and each location's files are stable
    (unchanged since the previous look, or untouched for `settle_seconds`), or when the cutoff
    after its first file has passed and the locations present are stable. A date whose
    delivery is unchanged since its last run is left alone; one whose files changed since
    (corrected re-delivery, late location) runs again. `already_landed` lets a fresh cursor
    recognise dates the lake already holds with exactly these files (landed by a backfill or
    the schedule, or a date whose files were only removed since), so turning the sensor on does
    not re-run history.
    """
    decisions: list[DateDecision] = []
    following = ArrivalCursor()
    expected_set = set(expected)
    for business_date in sorted(listing):
        key = business_date.isoformat()
        present = {loc: files for loc, files in listing[business_date].items() if files}
        summaries = {loc: location_summary(files) for loc, files in present.items()}
        following.look[key] = summaries
        if not present:
            continue
        digest = date_digest(present)
        locations = tuple(sorted(present))
        missing = tuple(sorted(expected_set - set(present)))
        ran_before = previous.ran.get(key)
        if ran_before is not None:
            following.ran[key] = ran_before
        if ran_before == digest:
            decisions.append(DateDecision(business_date, "unchanged", "already ran with these files", digest, locations, missing))
            continue

        before = previous.look.get(key, {})
        unsettled = []
        for loc, files in sorted(present.items()):
            newest = max(mtime for _, _, mtime in files)
            if before.get(loc) != summaries[loc] and now - newest < settings.settle_seconds:
                unsettled.append(f"{loc} (last write {_ago(now - newest)} ago)")
        first_write = min(mtime for files in present.values() for _, _, mtime in files)
        cutoff_at = first_write + settings.cutoff_seconds
        if unsettled:
            reason = (
                f"files still arriving at location(s) {', '.join(unsettled)}: waiting until they look the same on "
                f"two ticks or are {_ago(settings.settle_seconds)} old"
            )
            decisions.append(DateDecision(business_date, "wait", reason, digest, locations, missing))
            continue
        if missing and now < cutoff_at:
            reason = (
                f"waiting for location(s) {', '.join(missing)} ({len(locations)} of {len(expected_set)} delivered); "
                f"runs without them at the cutoff, {_utc(cutoff_at)} (in {_ago(cutoff_at - now)})"
            )
            decisions.append(DateDecision(business_date, "wait", reason, digest, locations, missing))
            continue

        if already_landed(business_date, present):
            # Landed by a backfill, the schedule or a manual run; or files were only removed
            # from the server (Toast clears old folders), which changes nothing in the lake.
            following.ran[key] = digest
            decisions.append(DateDecision(business_date, "landed", "the lake already holds these files", digest, locations, missing))
            continue
        if ran_before is not None:
            trigger: Trigger = "redelivery"
            reason = "files changed since its last run (corrected re-delivery or a late location)"
        elif missing:
            trigger = "cutoff"
            reason = f"cutoff passed at {_utc(cutoff_at)} without location(s) {', '.join(missing)}"
        else:
            trigger = "complete"
            reason = f"all {len(locations)} location(s) delivered and their files hold still"
        following.ran[key] = digest
        decisions.append(DateDecision(business_date, "run", reason, digest, locations, missing, trigger))
    return decisions, following


def skip_message(decisions: Sequence[DateDecision], looked_at: str) -> str:
    """The tick's skip reason: what each date is waiting for, or that nothing is new."""
    waiting = [d for d in decisions if d.action == "wait"]
    if waiting:
        return "; ".join(f"{d.business_date.isoformat()}: {d.reason}" for d in waiting)
    if not decisions:
        return f"no export files for {looked_at} on the server yet"
    newest = max(d.business_date for d in decisions).isoformat()
    return f"nothing new: every business date on the server ({looked_at}, newest {newest}) already ran with its current files"
