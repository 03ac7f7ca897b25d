"""Map a delivered header row onto the contract: by name, in any order, drift recorded."""

from dataclasses import dataclass

from toast_assets.contract.files import ToastFile, normalize_header, snake_case


@dataclass(frozen=True)
class HeaderMapping:
    """How the columns of one delivered file line up with its contract entry.

    `targets[i]` is the name the i-th delivered column is loaded under: a contract column
    name, or `_x_<snake header>` for a column the contract does not know (kept in `_extra`).
    """

    toast_file: ToastFile
    headers: tuple[str, ...]
    targets: tuple[str, ...]
    unknown_headers: tuple[str, ...]
    missing_required: tuple[str, ...]  # contract headers
    missing_optional: tuple[str, ...]
    duplicate_headers: tuple[str, ...]

    @property
    def is_loadable(self) -> bool:
        return not self.missing_required and not self.duplicate_headers

    @property
    def signature(self) -> tuple[str, ...]:
        """Files with the same signature can be read by one multi-file scan."""
        return self.targets

    @property
    def extra_targets(self) -> list[tuple[str, str]]:
        """(target name, original header) of the columns kept in `_extra`; a header delivered
        twice gets its column number so neither value is lost in the JSON object."""
        out: list[tuple[str, str]] = []
        used: set[str] = set()
        for position, (target, header) in enumerate(zip(self.targets, self.headers), start=1):
            if target.startswith(EXTRA_PREFIX):
                key = header if header not in used else f"{header} (column {position})"
                while key in used:
                    key += f" #{position}"
                used.add(key)
                out.append((target, key))
        return out


EXTRA_PREFIX = "_x_"


def map_headers(toast_file: ToastFile, headers: list[str] | tuple[str, ...]) -> HeaderMapping:
    lookup: dict[str, str] = {}
    for column in toast_file.columns:
        for spelling in column.spellings:
            lookup[normalize_header(spelling)] = column.name

    targets: list[str] = []
    unknown: list[str] = []
    duplicates: list[str] = []
    seen: set[str] = set()
    for position, header in enumerate(headers):
        name = lookup.get(normalize_header(header))
        if name is None:
            unknown.append(header.strip())
            name = f"{EXTRA_PREFIX}{snake_case(header) or f'column_{position + 1}'}"
            if name in seen:
                # Two unknown headers with one snake_case form (`Loyalty Tier`, `Loyalty-Tier`)
                # are drift, not a conflict: both are kept in `_extra`.
                name = f"{name}__{position + 1}"
        elif name in seen:
            # A contract column delivered twice: which one holds the value is unknowable.
            duplicates.append(header.strip())
            name = f"{name}__{position + 1}"
        seen.add(name)
        targets.append(name)

    present = set(targets)
    missing_required = tuple(c.header for c in toast_file.columns if c.required and c.name not in present)
    missing_optional = tuple(c.header for c in toast_file.columns if not c.required and c.name not in present)
    return HeaderMapping(
        toast_file=toast_file,
        headers=tuple(h.replace("\ufeff", "").strip() for h in headers),
        targets=tuple(targets),
        unknown_headers=tuple(unknown),
        missing_required=missing_required,
        missing_optional=missing_optional,
        duplicate_headers=tuple(duplicates),
    )
