"""Retries for network steps: the backoff arithmetic, the retry loop, and the SFTP connection
retrying against a real server that comes back, but never retrying a refused key."""

import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from toast_assets.landing.assets import toast_landing
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.sftp.assets import toast_sftp_files
from toast_assets.lib.retry import Backoff, call_with_retries, network_backoff, step_retry_policy
from toast_assets.settings import ConfigError
import toast_assets.sftp.resources as sftp_resources
from toast_assets.sftp.client import SftpAuthError, SftpError, ToastSftpClient
from toast_assets.sftp.resources import ToastSftpResource, is_transient
from toast_assets.sftp.server import ToastSftpServer


def test_waits_grow_exponentially_with_bounded_jitter_and_a_cap() -> None:
    backoff = Backoff(attempts=6, base_seconds=2, max_seconds=10, jitter=0.5)
    assert [backoff.wait(n, rng=lambda: 0.5) for n in range(1, 6)] == [2, 4, 8, 10, 10]
    assert backoff.wait(1, rng=lambda: 0.0) == 1.0 and backoff.wait(1, rng=lambda: 1.0) == 3.0
    assert backoff.wait(3, rng=lambda: 0.0) == 4.0 and backoff.wait(3, rng=lambda: 1.0) == 12.0
    assert backoff.budget() == pytest.approx((2 + 4 + 8 + 10 + 10) * 1.5)
    with pytest.raises(ValueError):
        Backoff(attempts=0)
    with pytest.raises(ValueError):
        backoff.wait(0)


def test_transient_errors_are_retried_until_success() -> None:
    outcomes: list[Exception | str] = [ConnectionError("refused"), ConnectionError("refused"), "landed"]
    slept: list[float] = []
    messages: list[str] = []

    def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = call_with_retries(
        flaky, what="connecting", backoff=Backoff(attempts=4, base_seconds=1, jitter=0.5),
        is_transient=lambda e: isinstance(e, ConnectionError), on_retry=messages.append, sleep=slept.append, rng=lambda: 0.5,
    )
    assert result == "landed"
    assert slept == [1.0, 2.0]
    assert messages[0] == "connecting failed (try 1 of 4): refused; trying again in 1.0s"


def test_permanent_errors_and_the_last_try_are_raised_unchanged() -> None:
    slept: list[float] = []
    calls = 0

    def refused() -> None:
        nonlocal calls
        calls += 1
        raise PermissionError("key refused")

    with pytest.raises(PermissionError, match="key refused"):
        call_with_retries(refused, what="x", backoff=Backoff(attempts=5), is_transient=lambda e: False, sleep=slept.append)
    assert calls == 1 and slept == []

    def down() -> None:
        raise ConnectionError("still down")

    with pytest.raises(ConnectionError, match="still down"):
        call_with_retries(down, what="x", backoff=Backoff(attempts=3, base_seconds=0), is_transient=lambda e: True, sleep=slept.append)
    assert len(slept) == 2


def test_settings_come_from_the_environment_and_are_checked() -> None:
    assert network_backoff({}) == Backoff()
    assert network_backoff({"TOAST_NETWORK_RETRY_ATTEMPTS": "5", "TOAST_NETWORK_RETRY_BASE_SECONDS": "0.5"}) == Backoff(attempts=5, base_seconds=0.5)
    with pytest.raises(ConfigError, match="TOAST_NETWORK_RETRY_ATTEMPTS"):
        network_backoff({"TOAST_NETWORK_RETRY_ATTEMPTS": "0"})
    with pytest.raises(ConfigError, match="TOAST_NETWORK_RETRY_BASE_SECONDS"):
        network_backoff({"TOAST_NETWORK_RETRY_BASE_SECONDS": "soon"})
    policy = step_retry_policy({"TOAST_STEP_RETRIES": "4", "TOAST_STEP_RETRY_DELAY_SECONDS": "10"})
    assert (policy.max_retries, policy.delay, policy.backoff, policy.jitter) == (4, 10, dg.Backoff.EXPONENTIAL, dg.Jitter.PLUS_MINUS)


def test_the_landing_step_retries_with_exponential_backoff_and_jitter() -> None:
    policy = toast_landing.op.retry_policy
    assert policy is not None and policy.max_retries >= 1
    assert policy.backoff == dg.Backoff.EXPONENTIAL and policy.jitter == dg.Jitter.PLUS_MINUS


def test_only_network_trouble_counts_as_transient() -> None:
    assert is_transient(SftpError("cannot reach SFTP server 127.0.0.1:22: [Errno 111] Connection refused"))
    assert not is_transient(SftpAuthError("refused key"))
    assert not is_transient(ValueError("not an SFTP error"))


def _resource(settings, **overrides: object) -> ToastSftpResource:
    values = dict(
        host=settings.host, port=settings.port, username=settings.username,
        private_key_path=settings.private_key_path, known_hosts_path=settings.known_hosts_path, connect_timeout=5.0,
    )
    values.update(overrides)
    return ToastSftpResource(**values)


def test_sftp_connection_retries_until_the_server_is_back(
    make_sftp_server, sftp_export_tree, sftp_keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, settings = make_sftp_server(sftp_export_tree.root)
    server.stop()  # refusing connections for a while
    monkeypatch.setenv("TOAST_NETWORK_RETRY_ATTEMPTS", "6")
    monkeypatch.setenv("TOAST_NETWORK_RETRY_BASE_SECONDS", "0.4")
    revived: list[ToastSftpServer] = []

    def come_back() -> None:
        time.sleep(1.0)
        revived.append(ToastSftpServer(sftp_export_tree.root, sftp_keys.authorized_keys, host_key=sftp_keys.host_key, port=settings.port).start())

    thread = threading.Thread(target=come_back)
    thread.start()
    messages: list[str] = []
    try:
        with _resource(settings).open(log=messages.append) as client:
            assert client.list_export_ids() == list(sftp_export_tree.export_ids)
    finally:
        thread.join()
        for s in revived:
            s.stop()
    assert messages and all("connecting to SFTP" in m and "trying again" in m for m in messages)
    assert "try 1 of 6" in messages[0]


def test_sftp_refused_key_is_not_retried(sftp_served, sftp_keys, monkeypatch: pytest.MonkeyPatch) -> None:
    _, settings = sftp_served
    monkeypatch.setenv("TOAST_NETWORK_RETRY_ATTEMPTS", "5")
    monkeypatch.setenv("TOAST_NETWORK_RETRY_BASE_SECONDS", "2")
    messages: list[str] = []
    started = time.monotonic()
    with pytest.raises(SftpAuthError):
        with _resource(settings, private_key_path=str(sftp_keys.stranger_key)).open(log=messages.append):
            pass
    assert messages == [] and time.monotonic() - started < 5


def test_landing_records_its_connection_retries(
    make_sftp_server, sftp_export_tree, sftp_keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, settings = make_sftp_server(sftp_export_tree.root)
    server.stop()
    monkeypatch.setenv("TOAST_NETWORK_RETRY_ATTEMPTS", "4")
    monkeypatch.setenv("TOAST_NETWORK_RETRY_BASE_SECONDS", "0.3")
    revived: list[ToastSftpServer] = []

    class ServerBackAfterFirstRefusal(ToastSftpClient):
        """The real client; its first refused connection brings the server back (as after a restart)."""

        def connect(self) -> "ToastSftpClient":
            try:
                return super().connect()
            except SftpError:
                if not revived:
                    revived.append(ToastSftpServer(sftp_export_tree.root, sftp_keys.authorized_keys, host_key=sftp_keys.host_key, port=settings.port).start())
                raise

    monkeypatch.setattr(sftp_resources, "ToastSftpClient", ServerBackAfterFirstRefusal)
    try:
        result = dg.materialize(
            [*toast_sftp_files, toast_landing], partition_key=sftp_export_tree.dates[0].isoformat(),
            resources={"toast_sftp": _resource(settings), "lake": LocalLakeResource(root=str(tmp_path / "lake"))},
        )
    finally:
        for s in revived:
            s.stop()
    assert result.success
    metadata = result.asset_materializations_for_node("toast_landing")[0].metadata
    assert metadata["connection_retries"].value == 1 and metadata["step_attempt"].value == 1
    assert metadata["files"].value == 2
