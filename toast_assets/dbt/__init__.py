"""dbt wiring: the dbt project as partitioned Dagster assets, its sources generated from the contract."""
