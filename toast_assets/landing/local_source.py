"""A Toast export tree in a local folder, read like the SFTP server.

For groups whose exports reach them by another route (a synced folder) and for tools and
tests that land generated data without a server. Same layout, same skipping rules.
"""

import os
import shutil
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import BinaryIO

from toast_assets.contract.layout import date_folder, is_export_id, is_safe_file_name, parse_date_folder
from toast_assets.sftp.client import RemoteFile


class LocalExportTree:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def list_tree(self, export_ids: Iterable[str] | None = None, dates: Iterable[date] | None = None) -> list[RemoteFile]:
        wanted_dates = set(dates) if dates is not None else None
        ids = sorted(export_ids) if export_ids else sorted(p.name for p in self.root.iterdir() if p.is_dir() and is_export_id(p.name))
        out: list[RemoteFile] = []
        for export_id in ids:
            base = self.root / export_id
            if not base.is_dir():
                continue
            for folder in sorted(base.iterdir()):
                business_date = parse_date_folder(folder.name)
                if business_date is None or not folder.is_dir() or (wanted_dates is not None and business_date not in wanted_dates):
                    continue
                for path in sorted(folder.iterdir()):
                    if path.is_file() and not path.is_symlink() and is_safe_file_name(path.name):
                        stat = path.stat()
                        out.append(RemoteFile(export_id, business_date, path.name, f"/{export_id}/{date_folder(business_date)}/{path.name}", stat.st_size, int(stat.st_mtime)))
        return out

    def list_files(self, export_id: str, business_date: date) -> list[RemoteFile]:
        return self.list_tree(export_ids=[export_id], dates=[business_date])

    def download(self, remote: RemoteFile, fileobj: BinaryIO) -> int:
        path = self.root / remote.export_id / date_folder(remote.business_date) / remote.name
        with path.open("rb") as handle:
            shutil.copyfileobj(handle, fileobj, 1 << 20)
        return os.path.getsize(path)
