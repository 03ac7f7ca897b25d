"""Servers the automation tests start and stop themselves: a webhook receiver, and the Dagster
webserver and daemon as real processes.

Every process is started here with its own session and stopped by its own process id (then
its process group, for the code servers and run workers it started). Nothing is found or
stopped by name.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", PROJECT_ROOT / ".venv")) / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Webhook receiver
# ---------------------------------------------------------------------------------------------


@dataclass
class WebhookServer:
    """A local incoming-webhook endpoint that records every JSON body posted to it.

    `fail_next` makes the next N posts answer HTTP 500 (to exercise the notifier's retries).
    """

    path: str = "/hooks/T000/B000/secret-token"
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    status_for_failures: int = 500
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the webhook server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def start(self) -> "WebhookServer":
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer._lock:
                    failing = outer.fail_next > 0
                    if failing:
                        outer.fail_next -= 1
                    elif self.path == outer.path:
                        outer.received.append(json.loads(body))
                if failing:
                    self.send_response(outer.status_for_failures)
                elif self.path != outer.path:
                    self.send_response(404)
                else:
                    self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def texts(self) -> list[str]:
        with self._lock:
            return [str(body.get("text", "")) for body in self.received]


@contextmanager
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Dagster processes
# ---------------------------------------------------------------------------------------------


def _default_signals() -> None:
    # A parent started from a non-interactive shell may ignore SIGINT/SIGTERM; the child would
    # inherit that and never stop (see stack-notes: the `dagster dev` signal trap).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class ManagedProcess:
    """A process this test started: stopped by its pid, then its own process group."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        # The session we created for it holds its code servers and run workers: end any left.
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def start_process(name: str, command: list[str], env: Mapping[str, str], log_dir: Path, cwd: Path = PROJECT_ROOT) -> ManagedProcess:
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        command,
        env=dict(env),
        cwd=cwd,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_default_signals,  # noqa: PLW1509 - only resets signal dispositions
    )
    log_file.close()
    return ManagedProcess(name, process, log_path)


@dataclass
class DagsterServers:
    """`dagster-webserver` and `dagster-daemon` on one DAGSTER_HOME, with a GraphQL helper."""

    webserver: ManagedProcess
    daemon: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        payload = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=payload, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        # The daemon first, so it launches nothing more while the webserver goes away.
        self.daemon.stop()
        self.webserver.stop()

    def logs(self) -> str:
        return f"--- webserver ---\n{self.webserver.log_tail()}\n--- daemon ---\n{self.daemon.log_tail()}"


def start_dagster(
    env: Mapping[str, str], log_dir: Path, port: int | None = None, workspace: Path = PROJECT_ROOT / "workspace.yaml", timeout: float = 180
) -> DagsterServers:
    """Start the webserver (on `port`, or a free one) and the daemon; wait until the code location has loaded."""
    port = port or free_port()
    webserver = start_process(
        "webserver",
        [str(VENV_BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)],
        env,
        log_dir,
    )
    daemon = start_process("daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, log_dir)
    servers = DagsterServers(webserver, daemon, port)
    try:
        wait_for("the webserver to answer /server_info", lambda: servers.up() or _died(servers), timeout)
        query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"

        def loaded() -> bool:
            entries = servers.graphql(query)["workspaceOrError"]["locationEntries"]
            for entry in entries:
                error = entry["locationOrLoadError"]
                if error and error["__typename"] == "PythonError":
                    raise AssertionError(f"code location {entry['name']} failed to load: {error['message']}")
            return bool(entries) and all(e["loadStatus"] == "LOADED" and e["locationOrLoadError"] for e in entries)

        wait_for("the code location to load in the webserver", loaded, timeout)
    except BaseException:
        logs = servers.logs()
        servers.stop()
        raise AssertionError(f"Dagster did not start:\n{logs}") from None
    return servers


def _died(servers: DagsterServers) -> bool:
    for process in (servers.webserver, servers.daemon):
        if not process.alive():
            raise AssertionError(f"{process.name} exited with {process.process.returncode}:\n{process.log_tail()}")
    return False
