"""The embedded default end to end: demo exports, the bundled SFTP server, and dagster runs.

`python -m toast_assets.demo.cli demo` is what `make demo` runs; `run` is `make run`;
`serve` keeps the demo SFTP server up for `make ui`.
"""

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import duckdb

from toast_assets.settings import PROJECT_ROOT

# Overridable so tests and side-by-side trials keep their demo out of the checkout.
DEMO_DIR = Path(os.environ.get("TOAST_DEMO_DIR", PROJECT_ROOT / ".demo")).resolve()
ENV_FILE = DEMO_DIR / "toast.env"
DEFAULT_START = date(2026, 10, 1)
DEFAULT_DAYS = 14
DEFAULT_LOCATIONS = 3
DAGSTER_HOME = Path(os.environ.get("DAGSTER_HOME", PROJECT_ROOT / ".dagster_home")).resolve()
# Every daily asset the pipeline materializes: the SFTP files themselves are external, and
# the weekly quality report is not partitioned (it has its own job and schedule).
MATERIALIZE_SELECTION = "not group:toast_sftp and not group:quality"
# The run's own progress messages, without Dagster's per-event debug lines.
RUN_LOG_CONFIG = '{"loggers": {"console": {"config": {"log_level": "INFO"}}}}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(start: date, days: int, locations: int, seed: int = 7) -> dict[str, str]:
    """Generate the demo group's exports and keys, and write the environment that points at them."""
    from toast_assets.demo.generator import generate
    from toast_assets.sftp.keys import generate_private_key, load_private_key, public_key_line

    exports, keys, data = DEMO_DIR / "exports", DEMO_DIR / "keys", DEMO_DIR / "data"
    for folder in (exports, data):
        shutil.rmtree(folder, ignore_errors=True)
    keys.mkdir(parents=True, exist_ok=True)
    summary = generate(exports, start, start + timedelta(days=days - 1), locations=locations, seed=seed)
    if not (keys / "client_ed25519").exists():
        generate_private_key(keys / "client_ed25519", "ed25519")
    if not (keys / "host_ed25519").exists():
        generate_private_key(keys / "host_ed25519", "ed25519")
    shutil.copyfile(keys / "client_ed25519.pub", keys / "authorized_keys")
    port = _free_port()
    # Pin the demo server's host key now, as a group pins Toast's: the client never trusts blindly.
    host_key = load_private_key(keys / "host_ed25519")
    (keys / "known_hosts").write_text(f"[127.0.0.1]:{port} {public_key_line(host_key)}\n", encoding="ascii")
    env = {
        "TOAST_SFTP_HOST": "127.0.0.1",
        "TOAST_SFTP_PORT": str(port),
        "TOAST_SFTP_USERNAME": "demo",
        "TOAST_SFTP_PRIVATE_KEY_PATH": str(keys / "client_ed25519"),
        "TOAST_SFTP_KNOWN_HOSTS": str(keys / "known_hosts"),
        "TOAST_SFTP_ROOT": "/",
        "TOAST_LAKE_URL": str(data / "lake"),
        "TOAST_WAREHOUSE": "duckdb",
        "TOAST_DUCKDB_PATH": str(data / "toast.duckdb"),
        "TOAST_START_DATE": "2026-01-01",
        "TOAST_DEMO_EXPORTS": str(exports),
        "TOAST_DEMO_HOST_KEY": str(keys / "host_ed25519"),
        "TOAST_DEMO_AUTHORIZED_KEYS": str(keys / "authorized_keys"),
        "TOAST_DEMO_START": start.isoformat(),
        "TOAST_DEMO_END": (start + timedelta(days=days - 1)).isoformat(),
    }
    ENV_FILE.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    print(
        f"generated {summary.files} files, {summary.rows} rows, {summary.bytes / 1e6:.1f} MB for "
        f"{len(summary.export_ids)} locations ({', '.join(summary.export_ids)}), {env['TOAST_DEMO_START']} to "
        f"{env['TOAST_DEMO_END']}, in {exports}"
    )
    return env


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line.removeprefix("export ").split("=", 1)
            env[key] = shlex.split(value)[0] if value else ""
    return env


@contextmanager
def demo_sftp_server(env: Mapping[str, str]) -> Iterator[None]:
    """The bundled SFTP server over the demo exports, for as long as the block runs."""
    from toast_assets.sftp.server import ToastSftpServer

    server = ToastSftpServer(
        root=Path(env["TOAST_DEMO_EXPORTS"]),
        authorized_keys=Path(env["TOAST_DEMO_AUTHORIZED_KEYS"]),
        host_key=Path(env["TOAST_DEMO_HOST_KEY"]),
        port=int(env["TOAST_SFTP_PORT"]),
    )
    server.start()
    server.write_known_hosts(Path(env["TOAST_SFTP_KNOWN_HOSTS"]))
    print(f"bundled SFTP server on 127.0.0.1:{server.port} serving {env['TOAST_DEMO_EXPORTS']}")
    try:
        yield
    finally:
        server.stop()
        print("bundled SFTP server stopped")


def dagster_env(demo_env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment of a dagster CLI call; with the demo's settings, none of the caller's TOAST_*."""
    DAGSTER_HOME.mkdir(exist_ok=True)
    if not (DAGSTER_HOME / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", DAGSTER_HOME / "dagster.yaml")
    inherited = {k: v for k, v in os.environ.items() if demo_env is None or not k.startswith("TOAST_")}
    return {
        **inherited,
        "DAGSTER_HOME": str(DAGSTER_HOME),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(demo_env or {}),
    }


def materialize_command(start: date, end: date) -> list[str]:
    dagster = str(Path(sys.executable).with_name("dagster"))
    return [
        dagster, "asset", "materialize", "-m", "toast_assets.definitions",
        "--select", MATERIALIZE_SELECTION, "--partition-range", f"{start.isoformat()}...{end.isoformat()}",
        "--config-json", RUN_LOG_CONFIG,
    ]


def run_range(start: date, end: date) -> int:
    """Materialize an inclusive range as one run: against the configured login, or the demo's."""
    if end < start:
        raise SystemExit(f"END {end} is before START {start}")
    command = materialize_command(start, end)
    if os.environ.get("TOAST_SFTP_HOST"):
        print("running:", shlex.join(command))
        return subprocess.call(command, env=dagster_env(None), cwd=PROJECT_ROOT)
    if not ENV_FILE.exists():
        raise SystemExit("TOAST_SFTP_HOST is not set and there is no demo environment: run `make demo` first")
    env = read_env_file()
    with demo_sftp_server(env):
        print("running:", shlex.join(command))
        code = subprocess.call(command, env=dagster_env(env), cwd=PROJECT_ROOT)
    if code == 0:
        print_summary(Path(env["TOAST_DUCKDB_PATH"]), start, end)
        print_marts(Path(env["TOAST_DUCKDB_PATH"]), start, end)
    return code


def print_summary(duckdb_path: Path, start: date, end: date) -> None:
    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        rows = conn.execute(
            """
            SELECT entity, count(*) AS files, sum(source_rows), sum(loaded_rows), sum(quarantined_rows),
                   count(DISTINCT location_id), sum(CASE WHEN status = 'empty' THEN 1 ELSE 0 END)
            FROM toast_raw.file_manifest WHERE business_date BETWEEN ? AND ?
            GROUP BY entity ORDER BY entity
            """,
            [start, end],
        ).fetchall()
    print(f"\nraw tables, business dates {start} to {end} ({duckdb_path}):")
    header = f"{'entity':<30}{'files':>7}{'rows read':>11}{'loaded':>10}{'quarantined':>13}{'locations':>11}{'empty':>7}"
    print(header)
    print("-" * len(header))
    for entity, files, read, loaded, quarantined, locations, empty in rows:
        print(f"{entity:<30}{files:>7}{read:>11}{loaded:>10}{quarantined:>13}{locations:>11}{empty:>7}")


MART_PREVIEWS = {
    "daily_sales_summary (last 3 business dates)": """
        SELECT business_date, location_id, location_name, orders_count, voided_orders_count, guests_count,
               net_sales, discount_amount, gross_sales, tax_amount, tip_amount, avg_order_value
        FROM toast_marts.daily_sales_summary
        WHERE business_date BETWEEN greatest($start, $end - INTERVAL 2 DAY) AND $end
        ORDER BY business_date, location_id""",
    "product_performance (top 3 items per location, whole range)": """
        SELECT location_id, menu_item, menu_group, sum(quantity_sold) AS quantity_sold, sum(net_sales) AS net_sales
        FROM toast_marts.product_performance
        WHERE business_date BETWEEN $start AND $end
        GROUP BY location_id, menu_item, menu_group
        QUALIFY row_number() OVER (PARTITION BY location_id ORDER BY sum(net_sales) DESC) <= 3
        ORDER BY location_id, net_sales DESC""",
    "store_performance (last business date)": """
        SELECT business_date, location_id, net_sales, net_sales_7d, net_sales_vs_prior_week, tip_rate,
               card_payment_share, avg_ticket_minutes, labor_hours, labor_cost_pct, sales_per_labor_hour,
               cash_over_short
        FROM toast_marts.store_performance
        WHERE business_date = $end
        ORDER BY location_id""",
}


def print_marts(duckdb_path: Path, start: date, end: date) -> None:
    """A compact look at each mart, as an analyst would first query it."""
    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        for title, sql in MART_PREVIEWS.items():
            print(f"\n{title}:")
            params = {name: value for name, value in {"start": start, "end": end}.items() if f"${name}" in sql}
            relation = conn.sql(sql, params=params)
            print(relation.to_df().to_string(index=False, max_colwidth=24, float_format=lambda v: f"{v:,.2f}"))


def ui(host: str, port: int) -> int:
    """`dagster dev` (webserver and daemon) on the configured instance; with the demo server when unconfigured."""
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", host, "-p", str(port)]
    if os.environ.get("TOAST_SFTP_HOST"):
        return subprocess.call(command, env=dagster_env(None), cwd=PROJECT_ROOT)
    if not ENV_FILE.exists():
        raise SystemExit("TOAST_SFTP_HOST is not set and there is no demo environment: run `make demo` first")
    env = read_env_file()
    with demo_sftp_server(env):
        print(f"Dagster UI on http://{host}:{port} (Ctrl-C stops it and the demo SFTP server)")
        try:
            return subprocess.call(command, env=dagster_env(env), cwd=PROJECT_ROOT)
        except KeyboardInterrupt:
            return 0


def validate() -> int:
    """`dagster definitions validate` against the configured environment, or the demo's."""
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "definitions", "validate", "-w", str(PROJECT_ROOT / "workspace.yaml")]
    demo_env = None
    if not os.environ.get("TOAST_SFTP_HOST"):
        if not ENV_FILE.exists():
            prepare(DEFAULT_START, DEFAULT_DAYS, DEFAULT_LOCATIONS)  # a fresh clone validates against the demo
        demo_env = read_env_file()
    return subprocess.call(command, env=dagster_env(demo_env), cwd=PROJECT_ROOT)


def serve() -> None:
    """Keep the demo SFTP server up until SIGTERM/SIGINT (for `make ui`)."""
    env = read_env_file()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with demo_sftp_server(env):
        stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toast_assets.demo.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="generate a demo group, serve it over SFTP, process it as one run")
    demo.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START)
    demo.add_argument("--days", type=int, default=DEFAULT_DAYS)
    demo.add_argument("--locations", type=int, default=DEFAULT_LOCATIONS)
    run = sub.add_parser("run", help="process an inclusive range of business dates as one run")
    run.add_argument("--start", type=date.fromisoformat, required=True)
    run.add_argument("--end", type=date.fromisoformat, required=True)
    sub.add_parser("serve", help="serve the demo exports over SFTP until stopped")
    sub.add_parser("validate", help="check that the code location loads")
    ui_parser = sub.add_parser("ui", help="start the Dagster UI and daemon (dagster dev)")
    ui_parser.add_argument("--host", default="127.0.0.1")
    ui_parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)

    if args.command == "demo":
        env = prepare(args.start, args.days, args.locations)
        os.environ.pop("TOAST_SFTP_HOST", None)
        code = run_range(date.fromisoformat(env["TOAST_DEMO_START"]), date.fromisoformat(env["TOAST_DEMO_END"]))
        if code == 0:
            print(f"\nopen the lineage in the Dagster UI: make ui  (then http://127.0.0.1:3000)")
        return code
    if args.command == "run":
        return run_range(args.start, args.end)
    if args.command == "validate":
        return validate()
    if args.command == "ui":
        return ui(args.host, args.port)
    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
