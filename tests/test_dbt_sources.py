"""The dbt sources YAML is generated from the Toast contract and committed; the seed covers the demo."""

import csv
from pathlib import Path

import yaml

from toast_assets.contract import EXTRA_COLUMN, LINEAGE_COLUMNS, TOAST_FILES
from toast_assets.dbt.sources import FILE_MANIFEST, SOURCE_NAME, SOURCES_PATH, main, render_sources_yaml
from toast_assets.demo.generator import location_catalog

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def test_committed_sources_yaml_is_the_rendered_one() -> None:
    assert SOURCES_PATH.read_text(encoding="utf-8") == render_sources_yaml(), (
        "dbt_project/models/staging/toast/_toast__sources.yml is stale: run python -m toast_assets.dbt.sources"
    )
    assert main(["--check"]) == 0


def test_sources_declare_every_contract_column_in_order_with_its_type() -> None:
    document = yaml.safe_load(render_sources_yaml())
    (source,) = document["sources"]
    assert source["name"] == SOURCE_NAME
    tables = {t["name"]: t for t in source["tables"]}
    assert set(tables) == {f.entity for f in TOAST_FILES} | {FILE_MANIFEST}
    for toast_file in TOAST_FILES:
        columns = tables[toast_file.entity]["columns"]
        expected = [*toast_file.column_names, EXTRA_COLUMN, *(name for name, _ in LINEAGE_COLUMNS)]
        assert [c["name"] for c in columns] == expected
        for column, contract_column in zip(columns, toast_file.columns):
            assert column["config"]["meta"]["logical_type"] == contract_column.type.value
            assert column["config"]["meta"]["header"] == contract_column.header
            if contract_column.description:
                assert column["description"].startswith(contract_column.description)


def test_every_staging_model_selects_every_contract_column() -> None:
    # Staging renames some columns (opened -> opened_at); every contract column must still be read.
    for toast_file in TOAST_FILES:
        sql = (DBT_DIR / "models" / "staging" / "toast" / f"stg_toast__{toast_file.entity}.sql").read_text()
        missing = [name for name in toast_file.column_names if f"('{name}')" not in sql]
        assert not missing, f"stg_toast__{toast_file.entity} does not read {missing}"
        assert f"source('toast_raw', '{toast_file.entity}')" in sql


def test_locations_seed_describes_the_demo_group() -> None:
    with (DBT_DIR / "seeds" / "locations.csv").open(newline="", encoding="utf-8") as handle:
        seeded = {row["export_id"]: row for row in csv.DictReader(handle)}
    for location in location_catalog(3, 7):
        row = seeded[location["export_id"]]
        assert row["location_name"] == location["location_name"]
        assert row["time_zone"] == location["time_zone"]
        assert row["region"] == location["region"]
        assert row["opened_on"] == location["opened_on"].isoformat()
