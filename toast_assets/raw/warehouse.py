"""The warehouse interface the raw assets talk to, whatever engine is behind it."""

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import dagster as dg
import pandas as pd

from toast_assets.contract import ToastFile
from toast_assets.raw.prepare import FileLoadStats, PreparedFile


class RowValidator(Protocol):
    """The contract checks the raw load runs on a table's loaded rows before its commit."""

    def columns(self, toast_file: ToastFile) -> list[str]:
        """The columns the checks read: the load hands over only these, and the rows' identity."""
        ...

    def __call__(self, toast_file: ToastFile, frame: pd.DataFrame, *, keys_repeat: bool = True) -> list:
        """The (row, rule) pairs the frame's rows break, rows named by the frame's index.

        `keys_repeat=False` says the warehouse found no natural key twice among the run's rows,
        so the checks need not look for repeats again.
        """
        ...


# Run tag of jobs that write the warehouse: the instance caps how many such runs proceed at
# once (deploy/dagster.yaml), so DuckDB's single writer is never contended.
WAREHOUSE_WRITE_TAGS = {"toast/warehouse": "write"}

RAW_SCHEMA = "toast_raw"
QUARANTINE_TABLE = "quarantine"
FILE_MANIFEST_TABLE = "file_manifest"


@dataclass
class LoadResult:
    """Per-file outcome of replacing some entities' business dates in the raw tables."""

    files: list[FileLoadStats] = field(default_factory=list)
    quarantine_rules: dict[str, dict[str, int]] = field(default_factory=dict)  # entity -> rule -> rows
    # Per entity: seconds spent on the contract checks (rows out of the warehouse, Pandera,
    # quarantine moves) and how many times the validator ran (once per table per run).
    validation_seconds: dict[str, float] = field(default_factory=dict)
    validation_calls: dict[str, int] = field(default_factory=dict)

    def for_entity(self, entity: str) -> list[FileLoadStats]:
        return [f for f in self.files if f.entity == entity]


@dataclass(frozen=True)
class Reconciliation:
    """Source records against what the warehouse holds, for one file."""

    entity: str
    location_id: str
    business_date: str
    file_name: str
    source_rows: int
    loaded_rows: int
    quarantined_rows: int

    @property
    def balanced(self) -> bool:
        return self.source_rows == self.loaded_rows + self.quarantined_rows


class WarehouseResource(dg.ConfigurableResource):
    """Raw tables, quarantine and the file manifest, replaced one set of business dates at a time."""

    def replace_raw_partitions(
        self, entities: list[str], dates: list[date], files: list[PreparedFile], validator: RowValidator | None = None
    ) -> LoadResult:
        """Replace exactly these entities' rows for these dates with the given files, atomically.

        `validator` (the Pandera contract) runs on the loaded rows before the commit; rows it
        rejects move to quarantine in the same transaction.
        """
        raise NotImplementedError

    def reconcile(self, entities: list[str], dates: list[date]) -> list[Reconciliation]:
        """Per file: manifest source records vs rows in the raw table and in quarantine."""
        raise NotImplementedError

    def read_frame(
        self, schema: str, table: str, date_column: str, dates: list[date], columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Rows of a warehouse table whose `date_column` is one of `dates`, as a DataFrame.

        Identifiers are validated against the table's real columns; values are never
        spliced into SQL. An absent table reads as an empty frame.
        """
        raise NotImplementedError

    def replace_frame(self, schema: str, table: str, date_column: str, dates: list[date], frame: pd.DataFrame) -> None:
        """Replace the rows of `dates` in a (created-if-absent) table with `frame`, atomically."""
        raise NotImplementedError

    def read_table(self, schema: str, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Every row of a small table without a date column (a reference such as
        `toast_reference.locations`), as a DataFrame. Identifiers are validated against the
        table's real columns; an absent table reads as an empty frame."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError
