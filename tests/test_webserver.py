"""The platform as an operator runs it: `dagster-webserver` and `dagster-daemon` as real
processes on a temporary DAGSTER_HOME with the project's dagster.yaml, the bundled SFTP server
over generated exports, a local webhook for alerts, and headless Chromium looking at the UI.

One session serves every scenario, in order (each later one builds on the state the earlier
ones left, as days do in production):

1. the GraphQL asset graph: lineage from each SFTP file through landing, raw, staging to every
   mart, with checks attached;
2. a partition backfill over three dates launched through GraphQL: chunks of two dates
   (TOAST_BACKFILL_CHUNK_DAYS=2) give two runs, the marts hold the three dates;
3. the arrival sensor, switched on: a new date dropped on the server runs and succeeds; one
   changed file of a past date runs that date again;
4. the browser: the lineage page, after the first-visit modal is dismissed, shows the groups;
   screenshots land in the test folder (and `docs/lineage.png` with UPDATE_SNAPSHOTS=1);
5. the SFTP server refusing connections: the landing step retries, then succeeds once the
   server is back;
6. the server down for good: the run fails and the alert reaches the webhook with the run
   link and the date.

The processes are started by the fixture and stopped by their process ids at the end.
"""

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest

from servers import DagsterServers, WebhookServer, free_port, start_dagster, wait_for
from toast_assets.demo.generator import generate
from toast_assets.settings import PROJECT_ROOT
from toast_assets.sftp.server import ToastSftpServer

LOCATION_NAME = "toast_assets"
REPOSITORY_NAME = "__repository__"
TODAY = datetime.now(ZoneInfo("America/New_York")).date()
# The partitions start with the backfilled dates and end with the date the sensor picks up
# (yesterday's), so after scenario 3 every partition is built and the screenshot shows it.
BACKFILL_DATES = [TODAY - timedelta(days=n) for n in (4, 3, 2)]
NEW_DATE = TODAY - timedelta(days=1)
CHUNK_DAYS = 2
RUN_TIMEOUT = 240
MART_GROUP = "marts"
SCREENSHOT_FOR_README = PROJECT_ROOT / "docs" / "lineage.png"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=15000", "--window-size=1600,1000",
]


@dataclass
class Stack:
    """Everything the scenarios share: folders, the SFTP server, Dagster, the webhook."""

    root: Path
    staging: Path  # all generated dates; dates are copied from here onto the server
    served: Path  # what the SFTP server serves
    duckdb_path: Path
    sftp_port: int
    keys: Any
    dagster: DagsterServers
    webhook: WebhookServer
    sftp: ToastSftpServer | None = None
    notes: list[str] = field(default_factory=list)

    def start_sftp(self) -> None:
        assert self.sftp is None
        self.sftp = ToastSftpServer(self.served, self.keys.authorized_keys, host_key=self.keys.host_key, port=self.sftp_port).start()

    def stop_sftp(self) -> None:
        if self.sftp is not None:
            self.sftp.stop()
            self.sftp = None

    # --------------------------------------------------------------------------- GraphQL helpers

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        return self.dagster.graphql(query, variables)

    def runs(self, **tags: str) -> list[dict[str, Any]]:
        data = self.gql(
            """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) {
                 __typename ... on Runs { results { runId status tags { key value } } } } }""",
            filter={"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        )
        results = data["runsOrError"]["results"]
        for run in results:
            run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        return results

    def run(self, run_id: str) -> dict[str, Any]:
        return next(r for r in self.runs() if r["runId"] == run_id)

    def wait_finished(self, run_id: str, timeout: float = RUN_TIMEOUT) -> str:
        def finished() -> str | None:
            status = self.run(run_id)["status"]
            return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

        try:
            return wait_for(f"run {run_id} to finish", finished, timeout, interval=2)
        except TimeoutError:
            raise AssertionError(f"run {run_id} did not finish:\n{self.dagster.logs()}") from None

    def event_types(self, run_id: str) -> list[str]:
        data = self.gql(
            """query Logs($runId: ID!) { logsForRun(runId: $runId) { __typename
                 ... on EventConnection { events { __typename } } } }""",
            runId=run_id,
        )
        return [e["__typename"] for e in data["logsForRun"]["events"]]

    def launch_day(self, business_date: date, assets: list[list[str]] | None = None) -> str:
        """A `toast_daily` run of one date, as the UI's Materialize button launches it (optionally a subset)."""
        selector: dict[str, Any] = {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME, "jobName": "toast_daily"}
        if assets:
            selector["assetSelection"] = [{"path": path} for path in assets]
        data = self.gql(
            """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
                 __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
                 ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }""",
            params={
                "selector": selector,
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": business_date.isoformat()}]},
            },
        )
        result = data["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["runId"]

    def set_sensor(self, name: str, running: bool) -> None:
        mutation = "startSensor" if running else "stopSensor"
        if running:
            query = """mutation Start($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
                         __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }"""
            data = self.gql(query, selector={"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME, "sensorName": name})
            assert data[mutation]["__typename"] == "Sensor" and data[mutation]["sensorState"]["status"] == "RUNNING", data
        else:
            state = self.gql(
                """query Sensor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
                     ... on Sensor { sensorState { id selectorId } } } }""",
                selector={"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME, "sensorName": name},
            )["sensorOrError"]["sensorState"]
            data = self.gql(
                """mutation Stop($id: String!, $selectorId: String!) { stopSensor(id: $id, jobSelectorId: $selectorId) {
                     __typename ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }""",
                id=state["id"], selectorId=state["selectorId"],
            )
            assert data[mutation]["__typename"] == "StopSensorMutationResult", data

    # --------------------------------------------------------------------------- data helpers

    def drop_date(self, business_date: date) -> None:
        """Toast delivering a business date: each location's folder appears on the server,
        its files written now (fresh mtimes, as an upload leaves them)."""
        folder = business_date.strftime("%Y%m%d")
        for location in sorted(p for p in self.staging.iterdir() if p.is_dir() and p.name.isdigit()):
            shutil.copytree(location / folder, self.served / location.name / folder, copy_function=shutil.copyfile)

    def mart_dates(self) -> set[date]:
        with duckdb.connect(str(self.duckdb_path), read_only=True) as conn:
            return {row[0] for row in conn.execute("SELECT DISTINCT business_date FROM toast_marts.daily_sales_summary").fetchall()}


def dagster_env(base: Path, stack_ports: dict[str, int], keys: Any, webhook: WebhookServer) -> dict[str, str]:
    home = base / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOAST_", "DAGSTER_"))}
    env.update({
        "DAGSTER_HOME": str(home),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_GCE_CHECK": "True",
        "TOAST_SFTP_HOST": "127.0.0.1",
        "TOAST_SFTP_PORT": str(stack_ports["sftp"]),
        "TOAST_SFTP_USERNAME": "toast-export",
        "TOAST_SFTP_PRIVATE_KEY_PATH": str(keys.client_key),
        "TOAST_SFTP_KNOWN_HOSTS": str(base / "known_hosts"),
        "TOAST_SFTP_CONNECT_TIMEOUT": "5",
        "TOAST_LAKE_URL": str(base / "lake"),
        "TOAST_DUCKDB_PATH": str(base / "toast.duckdb"),
        "TOAST_START_DATE": BACKFILL_DATES[0].isoformat(),
        "TOAST_LOG_FILE": str(base / "toast.jsonl"),
        "TOAST_ALERT_WEBHOOK_URL": webhook.url,
        "TOAST_DAGSTER_URL": f"http://127.0.0.1:{stack_ports['web']}",
        "TOAST_AUTOMATION_DEFAULT_STATUS": "stopped",
        "TOAST_ARRIVAL_INTERVAL_SECONDS": "5",
        "TOAST_ARRIVAL_SETTLE_SECONDS": "3",
        "TOAST_ALERT_INTERVAL_SECONDS": "5",
        "TOAST_NETWORK_RETRY_ATTEMPTS": "2",
        "TOAST_NETWORK_RETRY_BASE_SECONDS": "0.5",
        "TOAST_STEP_RETRIES": "3",
        "TOAST_STEP_RETRY_DELAY_SECONDS": "2",
        "TOAST_BACKFILL_CHUNK_DAYS": str(CHUNK_DAYS),
    })
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, sftp_keys) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("platform")
    staging, served = base / "staging", base / "served"
    generate(staging, BACKFILL_DATES[0], NEW_DATE, locations=2, seed=17, orders_per_day=(6, 10))
    served.mkdir()
    for location in (p for p in staging.iterdir() if p.is_dir() and p.name.isdigit()):
        for day in BACKFILL_DATES:
            shutil.copytree(location / day.strftime("%Y%m%d"), served / location.name / day.strftime("%Y%m%d"))

    webhook = WebhookServer().start()
    ports = {"sftp": free_port(), "web": free_port()}
    env = dagster_env(base, ports, sftp_keys, webhook)
    sftp = ToastSftpServer(served, sftp_keys.authorized_keys, host_key=sftp_keys.host_key, port=ports["sftp"]).start()
    sftp.write_known_hosts(base / "known_hosts")
    logs = base / "logs"
    logs.mkdir()
    dagster = None
    try:
        dagster = start_dagster(env, logs, port=ports["web"])
        stack = Stack(base, staging, served, base / "toast.duckdb", ports["sftp"], sftp_keys, dagster, webhook, sftp)
        yield stack
    finally:
        if dagster is not None:
            dagster.stop()
        sftp.stop()
        webhook.stop()
        print(f"\nplatform test folder (logs, screenshots, lake, warehouse): {base}")


# --------------------------------------------------------------------------------------------
# 1. Lineage
# --------------------------------------------------------------------------------------------

ASSET_NODES = """{ assetNodes { assetKey { path } dependencyKeys { path } groupName isPartitioned isMaterializable
                   assetChecksOrError { __typename ... on AssetChecks { checks { name } } } } }"""


def test_graphql_lineage_runs_from_sftp_files_to_every_mart_with_checks(stack: Stack) -> None:
    nodes = {"/".join(n["assetKey"]["path"]): n for n in stack.gql(ASSET_NODES)["assetNodes"]}
    parents = {key: {"/".join(d["path"]) for d in n["dependencyKeys"]} for key, n in nodes.items()}
    groups = {key: n["groupName"] for key, n in nodes.items()}
    checks = {key: {c["name"] for c in n["assetChecksOrError"].get("checks", [])} for key, n in nodes.items()}

    def ancestors(key: str) -> set[str]:
        seen, todo = set(), [key]
        while todo:
            for parent in parents.get(todo.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    entities = sorted(key.split("/", 1)[1] for key, group in groups.items() if group == "toast_sftp")
    assert len(entities) >= 8
    for entity in entities:
        assert f"toast_sftp/{entity}" in parents[f"toast_landing/{entity}"]
        assert f"toast_landing/{entity}" in parents[f"toast_raw/{entity}"]
        staging = [k for k, g in groups.items() if g == "staging" and f"toast_raw/{entity}" in parents[k]]
        assert staging, f"no staging model reads toast_raw/{entity}"
        assert {"rows_reconciled", "contract_valid"} <= checks[f"toast_raw/{entity}"]

    marts = sorted(k for k, g in groups.items() if g == MART_GROUP)
    assert {"toast_marts/daily_sales_summary", "toast_marts/product_performance", "toast_marts/store_performance"} <= set(marts)
    for mart in marts:
        upstream = ancestors(mart)
        assert any(groups.get(k) == "staging" for k in upstream), mart
        assert any(k.startswith("toast_raw/") and f"toast_landing/{k.split('/', 1)[1]}" in upstream for k in upstream), mart
        assert any(groups.get(k) == "toast_sftp" for k in upstream), f"{mart} does not trace back to an SFTP file"
        assert checks[mart], f"{mart} has no checks attached"
        assert nodes[mart]["isPartitioned"]


# --------------------------------------------------------------------------------------------
# 2. Backfill
# --------------------------------------------------------------------------------------------

BACKFILL_STATUS = """query Backfill($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { id status numPartitions
    assetBackfillData { assetBackfillStatuses { __typename
      ... on AssetPartitionsStatusCounts { assetKey { path } numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed } } } }
  ... on PythonError { message } } }"""


def test_graphql_backfill_runs_one_run_per_chunk_and_fills_the_marts(stack: Stack) -> None:
    nodes = stack.gql(ASSET_NODES)["assetNodes"]
    selection = [{"path": n["assetKey"]["path"]} for n in nodes if n["isPartitioned"] and n["isMaterializable"]]
    data = stack.gql(
        """mutation Backfill($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
             __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
             ... on UnauthorizedError { message } ... on PartitionSetNotFoundError { message } } }""",
        params={"assetSelection": selection, "partitionNames": [d.isoformat() for d in BACKFILL_DATES]},
    )
    result = data["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    backfill_id = result["backfillId"]

    progress: list[tuple[str, int]] = []

    def done() -> dict[str, Any] | None:
        backfill = stack.gql(BACKFILL_STATUS, id=backfill_id)["partitionBackfillOrError"]
        counts = backfill["assetBackfillData"]["assetBackfillStatuses"]
        progress.append((backfill["status"], min(c["numPartitionsMaterialized"] for c in counts)))
        return backfill if backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED") else None

    try:
        backfill = wait_for(f"backfill {backfill_id}", done, RUN_TIMEOUT * 2, interval=3)
    except TimeoutError:
        raise AssertionError(f"backfill stuck at {progress[-3:]}:\n{stack.dagster.logs()}") from None
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert backfill["numPartitions"] == len(BACKFILL_DATES)
    for counts in backfill["assetBackfillData"]["assetBackfillStatuses"]:
        assert counts["numPartitionsTargeted"] == counts["numPartitionsMaterialized"] == len(BACKFILL_DATES), counts
        assert counts["numPartitionsFailed"] == 0
    assert len(progress) >= 2, "progress was polled while the backfill ran"

    runs = stack.runs(**{"dagster/backfill": backfill_id})
    expected_runs = -(-len(BACKFILL_DATES) // CHUNK_DAYS)
    assert len(runs) == expected_runs and all(r["status"] == "SUCCESS" for r in runs), runs
    ranges = sorted((r["tags"]["dagster/asset_partition_range_start"], r["tags"]["dagster/asset_partition_range_end"]) for r in runs)
    assert ranges == [(BACKFILL_DATES[0].isoformat(), BACKFILL_DATES[1].isoformat()), (BACKFILL_DATES[2].isoformat(),) * 2]
    assert stack.mart_dates() == set(BACKFILL_DATES)


# --------------------------------------------------------------------------------------------
# 3. Arrival sensor
# --------------------------------------------------------------------------------------------


def wait_for_run(stack: Stack, business_date: date, known: set[str], what: str, timeout: float = 120) -> dict[str, Any]:
    def launched() -> dict[str, Any] | None:
        fresh = [r for r in stack.runs(**{"dagster/partition": business_date.isoformat()}) if r["runId"] not in known]
        return fresh[0] if fresh else None

    try:
        return wait_for(what, launched, timeout, interval=2)
    except TimeoutError:
        raise AssertionError(f"{what}: nothing launched\n{stack.dagster.logs()}") from None


def test_sensor_runs_a_new_date_then_reruns_a_corrected_one(stack: Stack) -> None:
    before = {r["runId"] for r in stack.runs()}
    stack.set_sensor("toast_arrival_sensor", running=True)
    try:
        stack.drop_date(NEW_DATE)
        run = wait_for_run(stack, NEW_DATE, before, f"the sensor to launch a run for {NEW_DATE}")
        assert run["tags"]["dagster/sensor_name"] == "toast_arrival_sensor"
        assert run["tags"]["toast/trigger"] == "complete"
        # Only the new date ran: the backfilled dates were recognised in the lake.
        assert {r["tags"].get("dagster/partition") for r in stack.runs() if r["runId"] not in before} == {NEW_DATE.isoformat()}

        # While it runs, Toast re-delivers one file of a past date: that date queues behind it.
        corrected = BACKFILL_DATES[1]
        known = {r["runId"] for r in stack.runs()}
        location = sorted(p.name for p in stack.served.iterdir() if p.name.isdigit())[0]
        path = stack.served / location / corrected.strftime("%Y%m%d") / "OrderDetails.csv"
        path.write_bytes(path.read_bytes())  # same name, a new write
        rerun = wait_for_run(stack, corrected, known, f"the sensor to re-run {corrected} after a corrected file")
        assert rerun["tags"]["toast/trigger"] == "redelivery"
    finally:
        stack.set_sensor("toast_arrival_sensor", running=False)
    assert stack.wait_finished(run["runId"]) == "SUCCESS"
    assert stack.wait_finished(rerun["runId"]) == "SUCCESS"
    assert NEW_DATE in stack.mart_dates()
    launched = [r for r in stack.runs() if r["runId"] not in before]
    assert len(launched) == 2, [(r["tags"].get("dagster/partition"), r["tags"].get("toast/trigger")) for r in launched]


# --------------------------------------------------------------------------------------------
# 4. Browser
# --------------------------------------------------------------------------------------------


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browse(stack: Stack, url: str, *action: str) -> subprocess.CompletedProcess:
    profile = stack.root / f"chromium-profile-{time.monotonic_ns()}"
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, url],
        capture_output=True, text=True, timeout=120, cwd=stack.root,
    )


def test_browser_shows_the_lineage_groups(stack: Stack) -> None:
    if chromium() is None:
        if os.environ.get("TOAST_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed and TOAST_REQUIRE_BROWSER is set: `apt-get install -y chromium`")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    # On localhost the UI opens with a community modal over the page until this is set.
    stack.gql("mutation { setNuxSeen }")
    assert stack.gql("{ shouldShowNux }")["shouldShowNux"] is False
    url = f"{stack.dagster.url}/asset-groups"

    dom = browse(stack, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    (stack.root / "lineage.html").write_text(dom.stdout)
    assert "Global asset lineage" in dom.stdout
    for group in ("toast_sftp", "toast_landing", "toast_raw", "staging", "intermediate", "marts"):
        assert f">{group}<" in dom.stdout, f"the lineage page does not show group {group}"
    assert "Join the Dagster community" not in dom.stdout

    screenshots = {
        "asset-groups.png": url,
        # Every asset from the SFTP files to the mart, as the README shows it.
        "lineage.png": f"{stack.dagster.url}/assets/toast_marts/daily_sales_summary?view=lineage&lineageScope=upstream&lineageDepth=6",
    }
    for name, page in screenshots.items():
        screenshot = stack.root / name
        shot = browse(stack, page, f"--screenshot={screenshot}")
        assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 30_000
        print(f"\nscreenshot of {page}: {screenshot}")
    if os.environ.get("UPDATE_SNAPSHOTS") or not SCREENSHOT_FOR_README.exists():
        SCREENSHOT_FOR_README.parent.mkdir(exist_ok=True)
        shutil.copyfile(stack.root / "lineage.png", SCREENSHOT_FOR_README)


# --------------------------------------------------------------------------------------------
# 5-6. SFTP outages: retried, then alerted
# --------------------------------------------------------------------------------------------


def test_landing_retries_while_the_server_refuses_connections(stack: Stack) -> None:
    landing = [n["assetKey"]["path"] for n in stack.gql(ASSET_NODES)["assetNodes"] if n["groupName"] == "toast_landing"]
    stack.stop_sftp()
    try:
        # The landing step alone: the step under test, without the minutes of a full dbt build.
        run_id = stack.launch_day(BACKFILL_DATES[2], assets=landing)
        wait_for("the landing step to be up for retry", lambda: "ExecutionStepUpForRetryEvent" in stack.event_types(run_id), RUN_TIMEOUT, interval=1)
    finally:
        stack.start_sftp()
    assert stack.wait_finished(run_id) == "SUCCESS"
    events = stack.event_types(run_id)
    assert "ExecutionStepRestartEvent" in events


def test_failure_alert_reaches_the_webhook_with_run_link_and_date(stack: Stack) -> None:
    stack.stop_sftp()
    try:
        run_id = stack.launch_day(BACKFILL_DATES[0])
        assert stack.wait_finished(run_id) == "FAILURE"
        assert stack.event_types(run_id).count("ExecutionStepUpForRetryEvent") == 3
        alerts = wait_for(
            "the failure alert at the webhook",
            lambda: [t for t in stack.webhook.texts() if run_id in t and "FAILED" in t],
            60,
        )
    finally:
        stack.start_sftp()
    text = alerts[0]
    assert f"{stack.dagster.url}/runs/{run_id}" in text
    assert f"FAILED for {BACKFILL_DATES[0].isoformat()}" in text
    assert "step `toast_landing` (after 3 retries): SftpError: cannot reach SFTP server" in text, text
    assert "Locations: " in text and "not known" not in text
    assert len(alerts) == 1, "one alert per failed run"
    # Production logs: JSON lines with the run id and business date of this run.
    lines = [json.loads(line) for line in (stack.root / "toast.jsonl").read_text().splitlines()]
    assert any(line.get("run_id") == run_id and line.get("business_date") == BACKFILL_DATES[0].isoformat() for line in lines)
