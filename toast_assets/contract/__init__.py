"""The Toast export contract: the one description of the files, their columns and keys."""

from toast_assets.contract.files import (
    BY_ENTITY,
    ENTITIES,
    EXTRA_COLUMN,
    LINEAGE_COLUMNS,
    TOAST_FILES,
    Column,
    LogicalType,
    ToastFile,
    file_for_name,
    normalize_header,
    snake_case,
)
from toast_assets.contract.headers import HeaderMapping, map_headers

__all__ = [
    "BY_ENTITY",
    "ENTITIES",
    "EXTRA_COLUMN",
    "LINEAGE_COLUMNS",
    "TOAST_FILES",
    "Column",
    "HeaderMapping",
    "LogicalType",
    "ToastFile",
    "file_for_name",
    "map_headers",
    "normalize_header",
    "snake_case",
]
