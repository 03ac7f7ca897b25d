"""A BigQuery API emulator for the tests: bqemulator in its own virtual environment.

The environment (`.venv-bqemulator` in the checkout, or TOAST_BQEMULATOR_VENV) is built from
`tests/bqemulator/requirements.txt` with uv from the package index, once: it is reused while
the requirements are unchanged. The emulator runs as a background process on a free loopback
port (tests/bqemulator/launch.py starts it offline) and is stopped by its own process id.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EMULATOR_DIR = Path(__file__).resolve().parent / "bqemulator"
REQUIREMENTS = EMULATOR_DIR / "requirements.txt"
LAUNCHER = EMULATOR_DIR / "launch.py"
PROJECT = "toast-emulator"
START_TIMEOUT = 120.0  # the first start compiles the environment's bytecode
STAMP = ".toast-requirements-sha256"


@dataclass(frozen=True)
class BigQueryEmulator:
    endpoint: str  # http://127.0.0.1:<port>, the API root for clients and dbt's `api_endpoint`
    project: str
    gcs_root: Path  # gs://<bucket>/<key> is read from <gcs_root>/<bucket>/<key>
    log: Path

    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt's `bigquery` target (dbt_project/profiles.yml) against the emulator."""
        return {
            "TOAST_DBT_TARGET": "bigquery",
            "TOAST_GCP_PROJECT": self.project,
            "TOAST_BQ_AUTH_METHOD": "oauth-secrets",  # any token: the emulator does not check it
            "TOAST_BQ_TOKEN": "emulator",
            "TOAST_BQ_API_ENDPOINT": self.endpoint,
            "TOAST_BQ_LOCATION": "US",
        }


def _uv() -> str | None:
    local = ROOT / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def emulator_venv() -> Path:
    """The emulator's virtual environment, built when missing or stale."""
    venv = Path(os.environ.get("TOAST_BQEMULATOR_VENV") or ROOT / ".venv-bqemulator")
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if python.exists() and (venv / STAMP).is_file() and (venv / STAMP).read_text().strip() == digest:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    uv = _uv()
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=300)
        subprocess.run(
            [uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(REQUIREMENTS)], check=True, timeout=900
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
            check=True,
            timeout=1800,
        )
    (venv / STAMP).write_text(digest)
    return venv


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    venv = emulator_venv()
    workdir = tmp_path_factory.mktemp("bqemulator")
    port_file, log, gcs_root = workdir / "port", workdir / "emulator.log", workdir / "gcs"
    gcs_root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BQEMU_", "GOOGLE_", "PYTHON"))}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(venv / "bin" / "python"), str(LAUNCHER), "--port-file", str(port_file), "--project", PROJECT,
             "--gcs-root", str(gcs_root)],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=workdir,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists():
            if process.poll() is not None:
                raise RuntimeError(f"bqemulator exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"bqemulator did not start in {START_TIMEOUT:.0f}s:\n{log.read_text()[-4000:]}")
            time.sleep(0.1)
        yield BigQueryEmulator(f"http://127.0.0.1:{port_file.read_text().strip()}", PROJECT, gcs_root, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
