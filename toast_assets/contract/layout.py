"""The delivery layout Toast uses on its SFTP server: `/<export_id>/<YYYYMMDD>/<File>`."""

import re
from datetime import date, datetime

_EXPORT_ID = re.compile(r"\d{1,20}")
_DATE_FOLDER = re.compile(r"\d{8}")


def is_export_id(name: str) -> bool:
    """A location's export folder: a short numeric name. Anything else at the root is skipped."""
    return bool(_EXPORT_ID.fullmatch(name))


def parse_date_folder(name: str) -> date | None:
    """The business date of a `YYYYMMDD` folder, or None (`not_a_date`, `20261399`)."""
    if not _DATE_FOLDER.fullmatch(name):
        return None
    try:
        return datetime.strptime(name, "%Y%m%d").date()
    except ValueError:
        return None


def date_folder(business_date: date) -> str:
    return business_date.strftime("%Y%m%d")


def is_safe_file_name(name: str) -> bool:
    """A plain file name: no path separators, no `.`/`..`, no control characters."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00") and name.isprintable()
