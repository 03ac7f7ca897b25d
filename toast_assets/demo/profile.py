"""Everything fixed about one location across days: menu, staff, regular guests, volume.

Built once per location and reused for every business date, so per-day work is only the
random draws and the rows themselves.
"""

import random
import uuid
from dataclasses import dataclass
from functools import cache

from toast_assets.demo.csvtext import quote
from toast_assets.demo.locations import LocationInfo
from toast_assets.demo.menu import Menu, build_menu
from toast_assets.demo.people import FIRST_NAMES, LAST_NAMES, full_name, tab_name

# Job code -> (title, pool size, hourly wage range in cents). Tipped roles earn a low base wage.
JOBS: dict[str, tuple[str, int, tuple[int, int]]] = {
    "SRV": ("Server", 14, (500, 1650)),
    "BAR": ("Bartender", 6, (500, 1650)),
    "LINE": ("Line Cook", 8, (1800, 2400)),
    "PREP": ("Prep Cook", 4, (1700, 2100)),
    "HOST": ("Host", 4, (1500, 1800)),
    "DISH": ("Dishwasher", 4, (1500, 1750)),
    "MGR": ("Manager", 3, (2800, 3600)),
}

_CUSTOMER_POOL = 300


@dataclass(frozen=True, slots=True)
class Employee:
    """A staff member with one job; text fields are CSV cells."""

    employee_id: str
    guid: str
    external_id: str
    name: str
    job_code: str
    job_id: str
    job_guid: str
    job_title: str
    wage: int  # cents per hour


@dataclass(slots=True)
class Customer:
    """A known guest (loyalty or online ordering); text fields are CSV cells. Read-only by
    convention (hundreds per location: frozen init is slow)."""

    customer_id: str
    name: str
    phone: str
    email: str
    tab_name: str  # unquoted, joined into multi-value cells


@cache
def _email_name(first: int, last: int) -> str:
    """`jose.garcia` for José García: the ASCII local part of a guest email address."""
    return full_name(first, last, ascii_only=True).lower().replace(" ", ".").replace("'", "")


class CustomerBook:
    """The location's known guests, each built on first use: a day meets a few dozen of them,
    and building all of them up front would cost more than a quiet day's orders."""

    def __init__(self, location: LocationInfo, rng: random.Random, traps: bool) -> None:
        random_ = rng.random
        self._export_id = location.export_id
        self._traps = traps
        # (first name, last name, phone) per guest, drawn up front so the book is deterministic.
        self._draws = [
            (int(random_() * len(FIRST_NAMES)), int(random_() * len(LAST_NAMES)), int(random_() * 10_000_000))
            for _ in range(_CUSTOMER_POOL)
        ]
        self._built: dict[int, Customer] = {}

    def __len__(self) -> int:
        return len(self._draws)

    def __getitem__(self, index: int) -> Customer:
        """The guest at a position of the book, built the first time it is asked for."""
        customer = self._built.get(index)
        if customer is None:
            first, last, phone = self._draws[index]
            number = index + 1
            customer = Customer(
                customer_id=f"22{self._export_id}{number:011d}",
                name=quote(full_name(first, last, ascii_only=not self._traps)),
                phone=f"555{phone:07d}",
                email=f"{_email_name(first, last)}{number}@example.com",
                tab_name=tab_name(first, last, with_comma=self._traps),
            )
            self._built[index] = customer
        return customer


@dataclass(frozen=True)
class LocationProfile:
    """A location's fixed traits: catalog entry, menu, staff by job, regular guests, volume."""

    info: LocationInfo
    location_cell: str  # the `Location` column, CSV-quoted if needed
    code_cell: str
    menu: Menu
    staff: dict[str, tuple[Employee, ...]]  # job code -> employees
    customers: CustomerBook
    volume: float  # 0..1 share of the orders-per-day range on the busiest weekday
    full_service_tip_bp: int  # average tip on full-service card payments, basis points


def _guid(rng: random.Random) -> str:
    """A deterministic version-4 UUID, as Toast prints GUIDs."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _staff(location: LocationInfo, rng: random.Random, ascii_only: bool) -> dict[str, tuple[Employee, ...]]:
    """The location's employees per job code, with ids, GUIDs and hourly wages."""
    staff: dict[str, tuple[Employee, ...]] = {}
    number = 0
    for job_number, (code, (title, size, (low, high))) in enumerate(JOBS.items(), start=1):
        job_guid = _guid(rng)
        members = []
        for _ in range(size):
            number += 1
            members.append(
                Employee(
                    employee_id=f"19{location.export_id}{number:011d}",
                    guid=_guid(rng),
                    external_id=f"E{location.index + 1:03d}{number:03d}",
                    name=quote(full_name(rng.randrange(len(FIRST_NAMES)), rng.randrange(len(LAST_NAMES)), ascii_only)),
                    job_code=code,
                    job_id=f"21{location.export_id}{job_number:011d}",
                    job_guid=job_guid,
                    job_title=title,
                    wage=rng.randrange(low, high + 1, 5),
                )
            )
        staff[code] = tuple(members)
    return staff


def build_profile(location: LocationInfo, seed: int, traps: bool) -> LocationProfile:
    """The location's fixed traits; `traps=False` gives ASCII names without commas."""
    rng = random.Random(f"toast-demo:{seed}:{location.export_id}:profile")
    ascii_only = not traps
    return LocationProfile(
        info=location,
        location_cell=quote(location.location_name),
        code_cell=quote(location.location_code),
        menu=build_menu(location, seed, ascii_only),
        staff=_staff(location, rng, ascii_only),
        customers=CustomerBook(location, rng, traps),
        volume=rng.uniform(0.8, 1.0),
        full_service_tip_bp=rng.randrange(2200, 2500, 25),
    )
