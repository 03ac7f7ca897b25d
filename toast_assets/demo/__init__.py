"""Seeded demo data: a Toast-style SFTP export tree for any number of locations and dates.

Entry point: `toast_assets.demo.generator` (`generate()`, `location_catalog()`, `trap_plan()`
and the `toast-demo-data` command). This package file stays empty on purpose so that
`python -m toast_assets.demo.generator` does not import the module twice.
"""
