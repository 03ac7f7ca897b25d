"""The demo restaurant group: its locations, their export ids, names, time zones and regions.

`location_catalog()` is the one source for everything that describes a location (the dbt
`locations` seed is written from it), so the generated files and the seed always agree.
"""

import random
from dataclasses import dataclass
from datetime import date

BRAND = "Copper & Thyme"

# (neighborhood, city, IANA time zone, region). Time zones matter downstream: Toast delivers
# each location's files about an hour after its own 04:00 local closeout.
LOCATION_NAMES: tuple[tuple[str, str, str, str], ...] = (
    ("Midtown", "New York", "America/New_York", "Northeast"),
    ("Back Bay", "Boston", "America/New_York", "Northeast"),
    ("Fishtown", "Philadelphia", "America/New_York", "Northeast"),
    ("Williamsburg", "Brooklyn", "America/New_York", "Northeast"),
    ("Federal Hill", "Providence", "America/New_York", "Northeast"),
    ("Georgetown", "Washington", "America/New_York", "Northeast"),
    ("Ponce City", "Atlanta", "America/New_York", "Southeast"),
    ("Wynwood", "Miami", "America/New_York", "Southeast"),
    ("South End", "Charlotte", "America/New_York", "Southeast"),
    ("King Street", "Charleston", "America/New_York", "Southeast"),
    ("West Loop", "Chicago", "America/Chicago", "Midwest"),
    ("North Loop", "Minneapolis", "America/Chicago", "Midwest"),
    ("Short North", "Columbus", "America/New_York", "Midwest"),
    ("Corktown", "Detroit", "America/Detroit", "Midwest"),
    ("Crossroads", "Kansas City", "America/Chicago", "Midwest"),
    ("East Austin", "Austin", "America/Chicago", "South"),
    ("Deep Ellum", "Dallas", "America/Chicago", "South"),
    ("Montrose", "Houston", "America/Chicago", "South"),
    ("The Gulch", "Nashville", "America/Chicago", "South"),
    ("Marigny", "New Orleans", "America/Chicago", "South"),
    ("LoDo", "Denver", "America/Denver", "Mountain"),
    ("Sugar House", "Salt Lake City", "America/Denver", "Mountain"),
    ("Old Town", "Fort Collins", "America/Denver", "Mountain"),
    ("Roosevelt Row", "Phoenix", "America/Phoenix", "Southwest"),
    ("Mission", "San Francisco", "America/Los_Angeles", "West"),
    ("Silver Lake", "Los Angeles", "America/Los_Angeles", "West"),
    ("Pearl District", "Portland", "America/Los_Angeles", "West"),
    ("Capitol Hill", "Seattle", "America/Los_Angeles", "West"),
    ("North Park", "San Diego", "America/Los_Angeles", "West"),
    ("Temescal", "Oakland", "America/Los_Angeles", "West"),
)

# Every location opened before the project's default partition start (2024-01-01), so no
# generated business date falls before a location's opening.
_OPENED_FIRST = date(2008, 3, 1)
_OPENED_LAST = date(2023, 6, 30)


@dataclass(frozen=True)
class LocationInfo:
    """One restaurant location as the group knows it."""

    index: int  # position in the catalog: 0 is the first location
    export_id: str  # Toast's SFTP folder name for the location (6 digits)
    location_name: str  # display name Toast prints in the `Location` column
    location_code: str  # short store code (CheckDetails / TimeEntries `Location Code`)
    city: str
    time_zone: str
    region: str
    opened_on: date


def export_ids(locations: int, seed: int = 7) -> list[str]:
    """Deterministic, distinct 6-digit export ids; the first n are the same for any larger count."""
    rng = random.Random(f"toast-demo:{seed}:export-ids")
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < locations:
        candidate = str(rng.randrange(100_000, 1_000_000))
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    return ids


def locations_for(locations: int, seed: int = 7) -> list[LocationInfo]:
    """The group's first `locations` locations for a seed (a prefix of any larger catalog)."""
    if locations < 1:
        raise ValueError("locations must be at least 1")
    order = list(range(len(LOCATION_NAMES)))
    random.Random(f"toast-demo:{seed}:names").shuffle(order)
    opened_rng = random.Random(f"toast-demo:{seed}:opened")
    span = (_OPENED_LAST - _OPENED_FIRST).days
    result = []
    for index, export_id in enumerate(export_ids(locations, seed)):
        neighborhood, city, time_zone, region = LOCATION_NAMES[order[index % len(order)]]
        # Beyond the name list the group opens second sites in the same neighborhoods.
        round_number = index // len(order)
        suffix = f" {round_number + 1}" if round_number else ""
        result.append(
            LocationInfo(
                index=index,
                export_id=export_id,
                location_name=f"{BRAND} - {neighborhood}{suffix}",
                location_code=f"CT{index + 1:03d}",
                city=city,
                time_zone=time_zone,
                region=region,
                opened_on=date.fromordinal(_OPENED_FIRST.toordinal() + opened_rng.randrange(span + 1)),
            )
        )
    return result


def location_catalog(locations: int, seed: int = 7) -> list[dict]:
    """Rows for the dbt `locations` seed: export_id, location_name, time_zone, region, opened_on.

    Also carries location_code and city, which the seed may ignore.
    """
    return [
        {
            "export_id": info.export_id,
            "location_name": info.location_name,
            "time_zone": info.time_zone,
            "region": info.region,
            "opened_on": info.opened_on,
            "location_code": info.location_code,
            "city": info.city,
        }
        for info in locations_for(locations, seed)
    ]
