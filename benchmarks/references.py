"""Reference paths: the same files, the same server, the same target, without the platform.

- `sftp_cli`: OpenSSH's `sftp` client, `get -r` of every location's date folders over one
  connection, from the same sshd the platform reads.
- `duckdb_bare`: one `CREATE TABLE … AS SELECT * FROM read_csv([<the entity's files>],
  header = true, auto_detect = false, columns = <the first file's header, all VARCHAR>)` per
  entity into a DuckDB file, `preserve_insertion_order = false`: DuckDB's fastest bulk read.
- `direct_sql`: the SQL dbt compiled for the run's window, executed directly on a copy of
  the platform's warehouse: views replaced, marts' window deleted and re-inserted, every data
  test's query run. What dbt would do without dbt (no parse, no adapter, no threads).
- `pandas_per_file`: what a group replaces, a straightforward script: per file `read_csv`,
  rename to the contract's column names, add lineage columns, append to a DuckDB table.

The work functions run in a child process (`python -m benchmarks.child`), so each path has
its own memory and CPU accounting; each returns the rows it produced.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from pathlib import Path


# ------------------------------------------------------------------ SFTP (runs in the parent)


def sftp_batch(root: Path, export_ids: Iterable[str], dates: Iterable[date], dest: Path) -> str:
    """A batch file that fetches every location's date folders, one `get -r` per folder.

    The local location folders are created here, before the transfer is timed."""
    lines = []
    for export_id in export_ids:
        local = dest / export_id
        local.mkdir(parents=True, exist_ok=True)
        for business_date in dates:
            folder = f"{business_date:%Y%m%d}"
            lines.append(f"get -r {Path(root).resolve()}/{export_id}/{folder} {local}/{folder}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ work done in the child


def duckdb_bare(spec: dict) -> dict:
    """CREATE TABLE AS SELECT * FROM read_csv(files) per entity; rows per entity."""
    import duckdb

    db = Path(spec["database"])
    for suffix in ("", ".wal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    rows = {}
    with duckdb.connect(str(db)) as conn:
        conn.execute("SET preserve_insertion_order = false")
        for entity, paths in sorted(spec["files"].items()):
            # The schema from the first file's header, given to the reader: with auto-detection
            # DuckDB sniffs every file of a multi-file read (10-30x the parse on small files).
            with open(paths[0], encoding="utf-8-sig", newline="") as handle:
                header = next(csv.reader(handle))
            columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in (h.replace("'", "''") for h in header)) + "}"
            conn.execute(
                f"CREATE TABLE {entity} AS SELECT * FROM read_csv($paths, header = true, auto_detect = false, "
                f"columns = {columns}, filename = true)",
                {"paths": paths},
            )
            rows[entity] = conn.execute(f"SELECT count(*) FROM {entity}").fetchone()[0]
        conn.execute("CHECKPOINT")
    return {"seconds": time.perf_counter() - started, "rows": rows}


def pandas_per_file(spec: dict) -> dict:
    """The script groups write before a platform: pandas per file, appended to DuckDB."""
    import duckdb
    import pandas as pd

    from toast_assets.contract import BY_ENTITY, EXTRA_COLUMN, normalize_header

    db = Path(spec["database"])
    for suffix in ("", ".wal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    rows: dict[str, int] = defaultdict(int)
    with duckdb.connect(str(db)) as conn:
        for entity, files in sorted(spec["files"].items()):
            toast_file = BY_ENTITY[entity]
            renames = {normalize_header(s): c.name for c in toast_file.columns for s in c.spellings}
            columns = [*toast_file.column_names, EXTRA_COLUMN, "_location_id", "_business_date", "_source_file"]
            conn.execute(f"CREATE TABLE {entity} ({', '.join(f'{c} VARCHAR' for c in columns)})")
            for path, location_id, business_date in files:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
                frame = frame.rename(columns=lambda h: renames.get(normalize_header(h), h))
                unknown = [c for c in frame.columns if c not in toast_file.column_names]
                frame[EXTRA_COLUMN] = frame[unknown].to_json(orient="records", lines=True).splitlines() if unknown else None
                frame = frame.drop(columns=unknown)
                frame["_location_id"], frame["_business_date"], frame["_source_file"] = location_id, business_date, path
                conn.register("frame", frame)
                conn.execute(f"INSERT INTO {entity} BY NAME SELECT * FROM frame")
                conn.unregister("frame")
                rows[entity] += len(frame)
        conn.execute("CHECKPOINT")
    return {"seconds": time.perf_counter() - started, "rows": dict(rows)}


def direct_sql(spec: dict) -> dict:
    """Execute the compiled dbt statements in order on the reference warehouse copy."""
    import duckdb

    statements = json.loads(Path(spec["statements"]).read_text())
    started = time.perf_counter()
    counts: dict[str, int] = {}
    failing_tests = 0
    with duckdb.connect(spec["database"]) as conn:
        for node in statements:
            for sql in node["sql"]:
                result = conn.execute(sql)
            if node["kind"] == "test":
                failing_tests += int(result.fetchone()[0] > 0)
            elif node["kind"] == "incremental":
                counts[node["relation"]] = conn.execute(
                    f"SELECT count(*) FROM {node['relation']} WHERE business_date BETWEEN $s AND $e",
                    {"s": spec["start"], "e": spec["end"]},
                ).fetchone()[0]
        conn.execute("CHECKPOINT")
    return {"seconds": time.perf_counter() - started, "rows": counts, "nodes": len(statements), "tests_with_failures": failing_tests}


WORK = {"duckdb_bare": duckdb_bare, "pandas_per_file": pandas_per_file, "direct_sql": direct_sql}


# ------------------------------------------------------------------ preparing the direct SQL


def compile_dbt(database: Path, start: str, end: str, workdir: Path, env: dict[str, str]) -> Path:
    """`dbt compile` for the window against `database`; returns the statements file.

    Marts are compiled while they exist, so `is_incremental()` holds as in a daily run.
    """
    from toast_assets.dbt.project import DBT_PROJECT_DIR, dbt_executable

    target = workdir / "dbt-compile"
    shutil.rmtree(target, ignore_errors=True)
    command = [
        dbt_executable(), "compile", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target", "duckdb", "--target-path", str(target), "--log-path", str(target),
        "--vars", json.dumps({"start_date": start, "end_date": end}),
    ]  # fmt: skip
    completed = subprocess.run(command, env={**os.environ, **env, "TOAST_DUCKDB_PATH": str(database)}, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"dbt compile failed: {completed.stdout[-3000:]}{completed.stderr[-3000:]}")
    manifest = json.loads((target / "manifest.json").read_text())
    path = workdir / f"direct-sql-{start}-{end}.json"
    path.write_text(json.dumps(statements_from_manifest(manifest, start, end), indent=1))
    return path


def statements_from_manifest(manifest: dict, start: str, end: str) -> list[dict]:
    """Models and data tests in dependency order, as plain DuckDB statements."""
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "test") and node.get("compiled_code") is not None
    }
    order: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen or uid not in nodes:
            return
        seen.add(uid)
        for parent in nodes[uid]["depends_on"]["nodes"]:
            visit(parent)
        order.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    out = []
    for uid in order:
        node = nodes[uid]
        code = node["compiled_code"].strip().rstrip(";")
        if node["resource_type"] == "test":
            out.append({"uid": uid, "kind": "test", "sql": [f"SELECT count(*) FROM ({code}) dbt_internal_test"]})
            continue
        # schema.table, without the catalog: dbt-duckdb names the catalog after the file.
        relation = f'"{node["schema"]}"."{node["alias"]}"'
        materialized = node["config"]["materialized"]
        schema = f'"{node["schema"]}"'
        if materialized == "view":
            sql = [f"CREATE SCHEMA IF NOT EXISTS {schema}", f"CREATE OR REPLACE VIEW {relation} AS {code}"]
        elif materialized == "incremental":
            # As dbt-duckdb runs the replace_window strategy: new rows first, then delete and insert.
            sql = [
                f"CREATE OR REPLACE TEMP TABLE _bench_new AS {code}",
                f"DELETE FROM {relation} WHERE business_date BETWEEN DATE '{start}' AND DATE '{end}'",
                f"INSERT INTO {relation} BY NAME SELECT * FROM _bench_new",
                "DROP TABLE _bench_new",
            ]
        else:
            sql = [f"CREATE SCHEMA IF NOT EXISTS {schema}", f"CREATE OR REPLACE TABLE {relation} AS {code}"]
        out.append({"uid": uid, "kind": materialized, "relation": relation, "sql": sql})
    return out


def child_main(argv: list[str]) -> int:
    name, spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text())
    result = WORK[name](spec)
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
