"""Bad inputs: a corpus of broken Toast exports through the real path, each with its expected outcome.

`tests/bad_inputs/expected.json` lists the cases: per case a location folder, and per file the
bytes (`files/<case>/...`, or a generator for the few large ones), the name the server shows,
and what must become of it, written by hand: entity, records, loaded rows, quarantined rows
with their rules, or the reason it is refused. All cases are served together by the bundled
SFTP server over TCP and go through the Dagster assets (landing -> raw load -> checks; one run
per business date of the corpus) into a DuckDB file; each case is then asserted on its own.

The invariant behind every case: each source record is loaded once or quarantined once (the
row numbers of both together are exactly 1..N), counted here with the `csv` module from the
served bytes, never from the pipeline's own bookkeeping; the lake holds the served bytes
untouched; quarantine rows name file, location, date, row and rule.

`tests/bad_inputs/staging_parse.json` is the DuckDB SQL that dbt staging uses to type a raw
cell of each logical type (compiled from the macros, kept current by a test here); the money,
id and timestamp cases are typed with it. Regenerate it with
`python tests/test_bad_inputs.py --write-staging-snapshot`.
"""

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from toast_assets.contract import BY_ENTITY  # header lists and column names only, no logic

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
CASES: list[dict] = EXPECTED["cases"]
DATES = [date.fromisoformat(d) for d in EXPECTED["business_dates"]]
STAGING_PARSE = CORPUS / "staging_parse.json"
DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
LOGICAL_TYPES = ("id", "text", "int", "decimal", "bool", "timestamp", "date", "time", "duration")
BOM = b"\xef\xbb\xbf"

pytestmark = pytest.mark.timeout(300)


# ---------------------------------------------------------------------------------------------
# The served tree
# ---------------------------------------------------------------------------------------------


def folder_date(folder: str) -> date | None:
    try:
        return date(int(folder[:4]), int(folder[4:6]), int(folder[6:8])) if re.fullmatch(r"\d{8}", folder) else None
    except ValueError:
        return None


def generated(spec: dict, entity: str) -> bytes:
    """The few corpus files too large to keep in the repository, built the same way each time."""
    assert spec["kind"] == "huge_cell"
    headers = list(BY_ENTITY[entity].headers)
    key = next(c.header for c in BY_ENTITY[entity].columns if c.required and c.type.value == "id")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in range(1, spec["rows"] + 1):
        values = {h: "" for h in headers}
        for column in BY_ENTITY[entity].columns:
            if column.required:
                values[column.header] = {"id": f"13000000157343031{row:02d}", "timestamp": "11/1/26 5:18 PM", "decimal": "1.00"}.get(
                    column.type.value, "x"
                )
        values[key] = f"13000000157343031{row:02d}"
        values[spec["column"]] = huge_value(spec) if row == spec.get("huge_row", 1) else "normal"
        writer.writerow([values[h] for h in headers])
    return buffer.getvalue().encode("utf-8")


def huge_value(spec: dict) -> str:
    return ("Large modifier text, " * (spec["size"] // 21 + 1))[: spec["size"]]


@dataclass(frozen=True)
class Served:
    case: dict
    spec: dict  # the file's entry in expected.json
    location: str
    folder: str
    name: str
    payload: bytes

    @property
    def business_date(self) -> date | None:
        return folder_date(self.folder)

    @property
    def entity(self) -> str | None:
        return self.spec.get("entity")

    def lake_key(self) -> str:
        entity = self.entity or "_unrecognized"
        return f"toast/{entity}/business_date={self.business_date.isoformat()}/location={self.location}/{self.name}"


def served_files() -> list[Served]:
    out = []
    for case in CASES:
        for spec in case["files"]:
            if spec["source"] is None:
                payload = generated(spec["generate"], spec["entity"])
            else:
                payload = (CORPUS / spec["source"]).read_bytes()
            name = spec["served_as"]
            if "name_encoding" in spec:  # a name that is not UTF-8 on the server's disk
                name = os.fsdecode(name.encode(spec["name_encoding"]))
            out.append(Served(case, spec, spec.get("location", case["location"]), spec.get("folder", case["folder"]), name, payload))
    return out


def write_tree(root: Path, outside: Path) -> list[Served]:
    files = served_files()
    for served in files:
        folder = root / served.location / served.folder
        folder.mkdir(parents=True, exist_ok=True)
        if served.spec.get("symlink_outside"):
            secret = outside / f"{served.case['id']}.csv"
            secret.write_bytes(served.payload)
            (folder / served.name).symlink_to(secret)
        else:
            (folder / served.name).write_bytes(served.payload)
    return files


# ---------------------------------------------------------------------------------------------
# Independent expectations: records counted with the csv module from the served bytes
# ---------------------------------------------------------------------------------------------


def source_records(payload: bytes, encoding: str) -> int:
    """Records after the header (the first row with a non-blank cell), blank rows skipped."""
    if payload.startswith(BOM):
        payload, encoding = payload[len(BOM):], "utf-8"
    text = payload.decode(encoding, errors="surrogateescape" if encoding.startswith("utf-8") else "strict")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=False))
    header = next((i for i, row in enumerate(rows) if any(cell.strip() for cell in row)), len(rows))
    return sum(1 for row in rows[header + 1 :] if row)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    root: Path
    tree: Path
    outside: Path
    lake: Path
    db: Path
    files: list[Served]
    results: list[dg.ExecuteInProcessResult]
    logs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    conn: duckdb.DuckDBPyConnection | None = None  # read-only, opened once the runs are over
    dbt_compile: subprocess.Popen | None = None  # for the staging snapshot test

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.conn.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def run(sftp_keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    import time

    from pipeline_resources import pipeline_resources
    from sftp_fixtures import sftp_settings_for

    from toast_assets.landing.assets import toast_landing
    from toast_assets.raw.assets import toast_raw
    from toast_assets.sftp.assets import toast_sftp_files
    from toast_assets.sftp.server import ToastSftpServer

    root = tmp_path_factory.mktemp("bad_inputs")
    tree, outside = root / "served", root / "outside"
    tree.mkdir()
    outside.mkdir()
    files = write_tree(tree, outside)
    dbt_compile = start_staging_compile(root / "dbt")
    started = time.monotonic()
    with ToastSftpServer(tree, sftp_keys.authorized_keys, host_key=sftp_keys.host_key) as server:
        known_hosts = root / "known_hosts"
        server.write_known_hosts(known_hosts)
        settings = sftp_settings_for(server, sftp_keys.client_key, known_hosts)
        instance = dg.DagsterInstance.ephemeral()
        resources = pipeline_resources(settings, root)
        # One run per corpus date: a range run from March to November would be 239 partitions
        # of materialization events for two dates of files.
        results = [
            dg.materialize(
                [*toast_sftp_files, toast_landing, toast_raw],
                resources=resources,
                instance=instance,
                partition_key=business_date.isoformat(),
                raise_on_error=False,
            )
            for business_date in DATES
        ]
    logs = [record.user_message for result in results for record in instance.all_logs(result.run_id)]
    seconds = time.monotonic() - started
    try:
        with duckdb.connect(str(root / "toast.duckdb"), read_only=True) as conn:
            yield Run(root, tree, outside, root / "lake", root / "toast.duckdb", files, results, logs, seconds, conn, dbt_compile)
    finally:
        if dbt_compile.poll() is None:
            dbt_compile.kill()
            dbt_compile.wait()


# ---------------------------------------------------------------------------------------------
# The run as a whole
# ---------------------------------------------------------------------------------------------


def test_no_bad_input_crashes_landing_or_loading(run: Run) -> None:
    failures = [e for result in run.results for e in result.all_events if e.is_step_failure]
    # The blocking contract check fails by design (rejected files, quarantine above 0.1%); a
    # failed step would mean an input crashed landing or the load.
    assert not [e for e in failures if "DagsterAssetCheckFailedError" not in str(e.event_specific_data)], failures
    materialized = {e.asset_key.path[-1] for result in run.results for e in result.get_asset_materialization_events()}
    entities = {s.entity for s in run.files if s.entity}
    assert entities <= materialized


def test_reconciliation_check_passes_for_every_entity(run: Run) -> None:
    checks = [c for result in run.results for c in result.get_asset_check_evaluations() if c.check_name == "rows_reconciled"]
    assert len(checks) == 9 * len(DATES)
    assert all(c.passed for c in checks), [(c.asset_key, c.metadata) for c in checks if not c.passed]
    assert sum(c.metadata["rows_source"].value for c in checks) == sum(
        c.metadata["rows_loaded"].value + c.metadata["rows_quarantined"].value for c in checks
    )


def test_every_source_record_is_loaded_or_quarantined_exactly_once(run: Run) -> None:
    """The whole corpus at once: per file, row numbers of loaded and quarantined rows are 1..N
    with no gap (nothing lost) and no overlap (nothing duplicated)."""
    totals = {"files": 0, "records": 0, "loaded": 0, "quarantined": 0, "lost": 0, "duplicated": 0}
    for served in run.files:
        if not served.entity:
            continue
        rows = loaded_and_quarantined(run, served)
        n = source_records(served.payload, manifest_row(run, served)["encoding"])
        numbers = rows["loaded"] + rows["quarantined"]
        totals["files"] += 1
        totals["records"] += n
        totals["loaded"] += len(rows["loaded"])
        totals["quarantined"] += len(rows["quarantined"])
        totals["lost"] += len(set(range(1, n + 1)) - set(numbers))
        totals["duplicated"] += len(numbers) - len(set(numbers)) + len(set(numbers) - set(range(1, n + 1)))
    print(f"\nbad-input corpus: {len(CASES)} cases, {len(run.files)} files served; {totals}; run {run.seconds:.1f}s")
    assert totals["lost"] == 0 and totals["duplicated"] == 0, totals
    assert totals["records"] == totals["loaded"] + totals["quarantined"]


def test_skipped_and_refused_entries_are_reported_by_name(run: Run) -> None:
    report = " ".join(m for m in run.logs if m.startswith("skipped "))
    assert report, "the landing step names what it skipped on the server"
    for needle in ("20261399", "not a YYYYMMDD business-date folder", "..100137", "not a location folder", "Order\\nDetails.csv"):
        assert needle in report, (needle, report)
    unrecognized = " ".join(m for m in run.logs if "outside the contract" in m)
    assert "Order Details.csv" in unrecognized


# ---------------------------------------------------------------------------------------------
# Each case
# ---------------------------------------------------------------------------------------------


def manifest_row(run: Run, served: Served) -> dict:
    rows = run.query(
        "SELECT source_rows, loaded_rows, quarantined_rows, status, rejection, encoding, unknown_headers "
        "FROM toast_raw.file_manifest WHERE source_file = ?",
        [served.lake_key()],
    )
    assert len(rows) == 1, f"{served.lake_key()} has {len(rows)} manifest rows"
    names = ("source_rows", "loaded_rows", "quarantined_rows", "status", "rejection", "encoding", "unknown_headers")
    return dict(zip(names, rows[0]))


def loaded_and_quarantined(run: Run, served: Served) -> dict[str, list[int]]:
    key = served.lake_key()
    loaded = [r[0] for r in run.query(f"SELECT _row_number FROM toast_raw.{served.entity} WHERE _source_file = ? ORDER BY 1", [key])]
    quarantined = [r[0] for r in run.query("SELECT DISTINCT row_number FROM toast_raw.quarantine WHERE source_file = ? ORDER BY 1", [key])]
    return {"loaded": loaded, "quarantined": quarantined}


def staging_parse() -> dict[str, str]:
    return json.loads(STAGING_PARSE.read_text(encoding="utf-8"))


def staged(logical_type: str, raw: str) -> object:
    """What dbt staging makes of one raw cell (the compiled macro, run on DuckDB)."""
    return duckdb.execute(f"SELECT {staging_parse()[logical_type]} FROM (SELECT ?::VARCHAR AS v) t", [raw]).fetchone()[0]


def same_staged(logical_type: str, value: object, expected: str) -> bool:
    if value is None:
        return False
    if logical_type in ("decimal", "int"):
        return Decimal(str(value)) == Decimal(expected)
    return str(value) == expected


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(run: Run, case: dict) -> None:
    lake_root = run.lake.resolve()
    for served in (s for s in run.files if s.case is case):
        spec, where = served.spec, f"{case['id']}: {served.name!r} in {served.location}/{served.folder}"
        if spec.get("refused"):
            # Refused by the listing (odd folder or file name): named in the report, nothing landed.
            landed = [q for q in lake_root.rglob(f"location={served.location}/*") if q.read_bytes() == served.payload]
            assert not landed, f"{where} reached the lake: {landed}"
            report = " ".join(m for m in run.logs if m.startswith("skipped "))
            if not served.location.isdigit():
                named = f"/{served.location} "
            elif served.business_date is None or served.folder != served.business_date.strftime("%Y%m%d"):
                named = f"/{served.location}/{served.folder} "
            else:
                named = repr(served.name)
            assert named in report, f"{where}: {named!r} is not named in the landing report"
            continue
        if spec.get("hidden"):
            # A link out of the served folder: the server never lists it, no byte of it is read.
            assert not any(p.is_file() and p.read_bytes() == served.payload for p in lake_root.rglob("*")), f"{where} reached the lake"
            continue
        if served.entity is None:
            # Outside the contract: kept byte for byte in the lake, confined to its folder, not loaded.
            path = (run.lake / served.lake_key()).resolve()
            assert lake_root in path.parents, f"{where} escaped the lake: {path}"
            assert path.read_bytes() == served.payload, where
            assert not run.query("SELECT 1 FROM toast_raw.file_manifest WHERE source_file = ?", [served.lake_key()]), where
            assert not list(run.root.rglob("pwned")) and not Path("pwned").exists(), "a file name was executed"
            continue
        check_contract_file(run, served, where)


def check_contract_file(run: Run, served: Served, where: str) -> None:
    spec = served.spec
    # The lake holds the served bytes, untouched.
    assert (run.lake / served.lake_key()).read_bytes() == served.payload, f"{where}: lake bytes differ from the source"

    manifest = manifest_row(run, served)
    records = source_records(served.payload, manifest["encoding"])
    if spec["records"] != "csv":
        assert records == spec["records"], f"{where}: the csv module counts {records} records, the corpus says {spec['records']}"
    assert manifest["source_rows"] == records, where
    rows = loaded_and_quarantined(run, served)
    assert sorted(rows["loaded"] + rows["quarantined"]) == list(range(1, records + 1)), f"{where}: {rows}"
    assert manifest["loaded_rows"] == len(rows["loaded"]) == spec["loaded"], f"{where}: {rows}"
    if "loaded_rows" in spec:
        assert rows["loaded"] == spec["loaded_rows"], where
    for name in ("status", "encoding"):
        if name in spec:
            assert manifest[name] == spec[name], (where, manifest)
    for needle in spec.get("rejection_contains", []):
        assert needle in (manifest["rejection"] or ""), (where, manifest["rejection"])
    if "unknown_headers" in spec:
        assert json.loads(manifest["unknown_headers"]) == spec["unknown_headers"], where

    quarantine = run.query(
        "SELECT entity, location_id, business_date, source_file, row_number, rule, error_message, raw_record "
        "FROM toast_raw.quarantine WHERE source_file = ? ORDER BY row_number",
        [served.lake_key()],
    )
    expected = spec["quarantine"]
    if isinstance(expected, str):
        rule = expected.split(":", 1)[1]
        expected = [[n, rule] for n in range(1, records + 1)]
    assert [[q[4], q[5]] for q in quarantine] == expected, f"{where}: quarantine {[(q[4], q[5]) for q in quarantine]}"
    for entity, location, business_date, source_file, row_number, rule, message, raw in quarantine:
        # Every quarantined record names its file, location, date, row and rule.
        assert (entity, location, business_date) == (served.entity, served.location, served.business_date), where
        assert source_file.endswith(f"location={served.location}/{served.name}") and row_number >= 1 and rule and message, where
        assert raw is not None, where
        if rule == "file_rejected":
            for needle in (served.name, served.location, served.business_date.isoformat()):
                assert needle in message, (where, message)
    by_row = {q[4]: q for q in quarantine}
    for row, needle in spec.get("raw_contains", {}).items():
        assert needle in by_row[int(row)][7], (where, row, by_row[int(row)][7][:200])
    for row, needle in spec.get("message_contains", {}).items():
        assert needle in by_row[int(row)][6], (where, row, by_row[int(row)][6])

    for value in spec.get("values", []):
        got = run.query(
            f'SELECT "{value["column"]}" FROM toast_raw.{served.entity} WHERE _source_file = ? AND _row_number = ?',
            [served.lake_key(), value["row"]],
        )
        assert got == [(value["raw"],)], f"{where}: row {value['row']} {value['column']} = {got}, expected {value['raw']!r}"
        if "staged" in value:
            result = staged(value["type"], value["raw"])
            assert same_staged(value["type"], result, value["staged"]), f"{where}: staging makes {result!r} of {value['raw']!r}"
    if "generate" in spec:
        column = next(c.name for c in BY_ENTITY[served.entity].columns if c.header == spec["generate"]["column"])
        huge_row = spec["generate"].get("huge_row", 1)
        got = run.query(f'SELECT "{column}" FROM toast_raw.{served.entity} WHERE _source_file = ? AND _row_number = ?', [served.lake_key(), huge_row])
        if huge_row in rows["loaded"]:
            assert got == [(huge_value(spec["generate"]),)], f"{where}: the huge cell was not kept whole"
        else:
            assert by_row[huge_row][5] == "record_too_large"


# ---------------------------------------------------------------------------------------------
# The staging snapshot
# ---------------------------------------------------------------------------------------------


def start_staging_compile(target: Path) -> subprocess.Popen:
    """Start dbt compiling `toast_parse(<type>, 'v')` for every logical type (DuckDB target)."""
    body = "".join(f"/*<{t}>*/ {{{{ toast_parse('{t}', 'v') }}}} /*</{t}>*/,\n" for t in LOGICAL_TYPES)
    env = {**os.environ, "TOAST_DUCKDB_PATH": str(target / "unused.duckdb"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    dbt = str(Path(sys.executable).with_name("dbt"))
    return subprocess.Popen(
        [dbt, "compile", "--quiet", "--inline", f"select {body} 1", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target", "duckdb", "--target-path", str(target / "target"), "--log-path", str(target / "logs")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def staging_compiled(process: subprocess.Popen) -> dict[str, str]:
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return {t: re.search(rf"/\*<{t}>\*/(.*?)/\*</{t}>\*/", stdout, re.S).group(1).strip() for t in LOGICAL_TYPES}


def test_staging_parse_snapshot_matches_the_dbt_macros(run: Run) -> None:
    # dbt was started beside the pipeline runs (its parse takes longer than they do).
    assert staging_compiled(run.dbt_compile) == staging_parse(), (
        "dbt's parsing macros changed: run `python tests/test_bad_inputs.py --write-staging-snapshot` "
        "and check the bad-input and property tests against the new SQL"
    )


if __name__ == "__main__" and sys.argv[1:] == ["--write-staging-snapshot"]:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        snapshot = staging_compiled(start_staging_compile(Path(scratch)))
    STAGING_PARSE.write_text(json.dumps(snapshot, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {STAGING_PARSE}")
