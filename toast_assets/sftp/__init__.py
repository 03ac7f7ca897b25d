"""The Toast SFTP source: where every nightly export file comes from.

`client` lists and downloads `/<export_id>/<YYYYMMDD>/<File>.csv` over a verified, key-only
SSH connection; `keys` creates, loads and fingerprints the SSH keys involved; `server` is the
bundled read-only SFTP server that stands in for Toast in the demo and the tests (import it
from `toast_assets.sftp.server`; it is not re-exported here so `python -m` can run it cleanly).
"""

from toast_assets.sftp.client import (
    HostKeyError,
    RemoteFile,
    RemotePathError,
    SftpAuthError,
    SftpError,
    SftpSettings,
    ToastSftpClient,
)
from toast_assets.sftp.keys import (
    PrivateKeyError,
    fingerprint,
    generate_private_key,
    load_private_key,
)

__all__ = [
    "HostKeyError",
    "PrivateKeyError",
    "RemoteFile",
    "RemotePathError",
    "SftpAuthError",
    "SftpError",
    "SftpSettings",
    "ToastSftpClient",
    "fingerprint",
    "generate_private_key",
    "load_private_key",
]
