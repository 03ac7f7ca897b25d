"""Start bqemulator offline, in its own virtual environment (tests/bq_emulator.py runs this).

As shipped, bqemulator installs DuckDB's `spatial` extension at start-up (and `avro` unless
disabled), downloading it from DuckDB's extension site: that fails with no network. The
platform has no GEOGRAPHY column and loads no Avro, so the spatial load is skipped and the
format extensions are switched off. The server binds a free loopback port and writes
`<rest port>` to --port-file once it accepts requests; SIGTERM stops it.

Usage: python launch.py --port-file PATH [--project ID] [--gcs-root DIR]
"""

import argparse
import asyncio
import os
import signal
from pathlib import Path

from bqemulator.config import LogFormat, LogLevel, PersistenceMode, Settings
from bqemulator.server import EmulatorServer
from bqemulator.storage.engine import DuckDBEngine


def _skip_spatial(self: DuckDBEngine) -> None:
    """GEOGRAPHY is unused here; the extension would be downloaded from the internet."""


async def _serve(settings: Settings, port_file: Path) -> None:
    server = EmulatorServer(settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    partial = port_file.with_name(port_file.name + ".part")
    partial.write_text(str(server.rest_port))
    os.replace(partial, port_file)  # the test waits for this file: written whole or not at all
    try:
        await stop.wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--project", default="toast-emulator")
    parser.add_argument("--gcs-root", type=Path, default=None, help="folder that gs:// URIs resolve under")
    args = parser.parse_args()
    # Signals must reach this process even when started from a shell that ignores them.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    DuckDBEngine._load_spatial = _skip_spatial
    settings = Settings(
        rest_host="127.0.0.1",
        rest_port=0,
        grpc_host="127.0.0.1",
        grpc_port=0,
        persistence_mode=PersistenceMode.EPHEMERAL,
        default_project_id=args.project,
        gcs_local_root=args.gcs_root,
        enable_format_extensions=False,
        metrics_enabled=False,
        log_level=LogLevel.WARNING,
        log_format=LogFormat.CONSOLE,
    )
    asyncio.run(_serve(settings, args.port_file))


if __name__ == "__main__":
    main()
