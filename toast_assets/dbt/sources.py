"""The dbt sources YAML for the raw tables, rendered from the Toast file contract.

The raw tables hold every contract column as text plus lineage columns, so their dbt
source declaration is derived, never typed by hand: run `python -m toast_assets.dbt.sources`
after changing the contract, and `tests/test_dbt_sources.py` fails while the committed file
is stale. Each column's `config.meta` carries the contract's header and logical type, which the
`toast_parse_failures` dbt test reads to know how each raw column must parse.
"""

import argparse
import sys
from pathlib import Path

import yaml

from toast_assets.contract import EXTRA_COLUMN, LINEAGE_COLUMNS, TOAST_FILES, Column, ToastFile

SOURCE_NAME = "toast_raw"
FILE_MANIFEST = "file_manifest"
SOURCES_PATH = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "staging" / "toast" / "_toast__sources.yml"

# BigQuery dataset from the environment; DuckDB schema fixed by the raw loader.
_SCHEMA = "{{ env_var('TOAST_BQ_RAW_DATASET', 'toast_raw') if target.type == 'bigquery' else 'toast_raw' }}"

_LINEAGE_DESCRIPTIONS = {
    "_location_id": "Export folder id of the location (`/<export_id>/<YYYYMMDD>/`).",
    "_business_date": "Business date: the export folder date, not the date of the timestamps inside.",
    "_source_file": "Lake path of the file the row was loaded from.",
    "_file_sha256": "SHA-256 of that file's bytes.",
    "_row_number": "Record number of the row within its file.",
    "_loaded_at": "When the row was loaded into the raw table (UTC).",
}

# What the raw loader promises about toast_raw.file_manifest (one row per landed file).
FILE_MANIFEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("entity", "Contract entity of the file (order_details, ...)."),
    ("location_id", "Export folder id of the location."),
    ("business_date", "Business date (export folder date)."),
    ("file_name", "File name as delivered."),
    ("sha256", "SHA-256 of the file's bytes."),
    ("size_bytes", "File size in bytes."),
    ("source_rows", "Data records in the file (0 for a header-only file: a closed day)."),
    ("encoding", "Encoding the file was decoded with."),
    ("landed_at", "When the file was copied into the lake."),
)


def _column_description(column: Column) -> str:
    text = column.description or f"`{column.header}` as delivered."
    return f"{text} Raw text; contract type {column.type.value}."


def _table(toast_file: ToastFile) -> dict:
    columns: list[dict] = [
        {
            "name": c.name,
            "description": _column_description(c),
            "config": {"meta": {"header": c.header, "logical_type": c.type.value, "required": c.required}},
        }
        for c in toast_file.columns
    ]
    columns.append({"name": EXTRA_COLUMN, "description": "Columns the contract does not know, as a JSON object (NULL when none)."})
    columns.extend({"name": name, "description": _LINEAGE_DESCRIPTIONS[name]} for name, _ in LINEAGE_COLUMNS)
    return {
        "name": toast_file.entity,
        "description": f"`{toast_file.file_name}`: {toast_file.description} All columns text, one row per record, replaced per business date.",
        "config": {
            "meta": {
                "file_name": toast_file.file_name,
                "natural_key": list(toast_file.natural_key),
                "optional_file": toast_file.optional_file,
            }
        },
        "columns": columns,
    }


def render_sources_yaml() -> str:
    """The committed `_toast__sources.yml`, rendered from the contract."""
    tables = [_table(f) for f in TOAST_FILES]
    tables.append(
        {
            "name": FILE_MANIFEST,
            "description": "One row per landed file per location and business date, header-only files (closed days) included: which locations delivered on a date.",
            "columns": [{"name": name, "description": text} for name, text in FILE_MANIFEST_COLUMNS],
        }
    )
    document = {
        "version": 2,
        "sources": [
            {
                "name": SOURCE_NAME,
                "description": "Raw Toast export tables loaded by the toast_raw assets: every contract column as text, plus lineage columns.",
                "schema": _SCHEMA,
                "loader": "toast_assets.raw",
                "tables": tables,
            }
        ],
    }
    header = (
        "# GENERATED from toast_assets/contract/files.py by `python -m toast_assets.dbt.sources`.\n"
        "# Do not edit by hand: tests/test_dbt_sources.py fails when this file is stale.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=1000, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the dbt sources YAML for the raw tables from the Toast contract.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs instead of writing it")
    args = parser.parse_args(argv)
    rendered = render_sources_yaml()
    if args.check:
        current = SOURCES_PATH.read_text(encoding="utf-8") if SOURCES_PATH.exists() else ""
        if current != rendered:
            print(f"{SOURCES_PATH} is stale: run python -m toast_assets.dbt.sources", file=sys.stderr)
            return 1
        return 0
    SOURCES_PATH.write_text(rendered, encoding="utf-8")
    print(f"wrote {SOURCES_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
