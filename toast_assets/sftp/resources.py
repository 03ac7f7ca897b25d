"""The Toast SFTP login as a Dagster resource: settings in, one client session out."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg

from toast_assets.lib.retry import call_with_retries, network_backoff
from toast_assets.sftp.client import HostKeyError, RemotePathError, SftpAuthError, SftpError, SftpSettings, ToastSftpClient


def is_transient(error: BaseException) -> bool:
    """Network trouble a later try can fix; never an untrusted host key, a refused key or a bad path."""
    return isinstance(error, SftpError) and not isinstance(error, (HostKeyError, SftpAuthError, RemotePathError))


class ToastSftpResource(dg.ConfigurableResource):
    """Toast's SFTP export server. Key auth only; the host key is always verified."""

    host: str
    port: int = 22
    username: str
    private_key_path: str | None = None
    # Key text comes from the environment (dg.EnvVar) so it never appears in run config.
    private_key: str | None = None
    private_key_passphrase: str | None = None
    known_hosts_path: str | None = None
    host_key_fingerprint: str | None = None
    root: str = "/"
    export_ids: list[str] = []
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    # A night of more than PARALLEL_MIN_BYTES is fetched over this many connections, each in
    # its own worker process (one paramiko connection is bound by one core); 1: the step's only.
    connections: int = 2

    def settings(self) -> SftpSettings:
        return SftpSettings(
            host=self.host,
            port=self.port,
            username=self.username,
            private_key_path=self.private_key_path,
            private_key=self.private_key,
            private_key_passphrase=self.private_key_passphrase,
            known_hosts_path=self.known_hosts_path,
            host_key_fingerprint=self.host_key_fingerprint,
            root=self.root,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    @contextmanager
    def open(self, log: Callable[[str], None] | None = None) -> Iterator[ToastSftpClient]:
        """One connection for the whole run: per-file connections cost a handshake each.

        Connecting is retried with exponential backoff and jitter (`TOAST_NETWORK_RETRY_*`);
        `log` receives a message before each wait.
        """
        settings = self.settings()
        settings.validate()  # a wrong setting is not worth waiting for
        client = call_with_retries(
            lambda: ToastSftpClient(settings).connect(),
            what=f"connecting to SFTP {settings.endpoint}",
            backoff=network_backoff(),
            is_transient=is_transient,
            on_retry=log,
        )
        try:
            yield client
        finally:
            client.close()

    def describe(self) -> str:
        return f"sftp://{self.username}@{self.host}:{self.port}{self.root}"
