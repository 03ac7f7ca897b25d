"""The value forms the contract accepts are the forms dbt staging parses (one list, checked)."""

import re
from pathlib import Path

from toast_assets.contract.values import TIMESTAMP_FORMATS

MACRO = Path(__file__).resolve().parents[1] / "dbt_project" / "macros" / "cross_db" / "parse_datetime.sql"


def test_dbt_timestamp_formats_match_the_contract() -> None:
    text = MACRO.read_text()
    body = text.split("macro toast_timestamp_formats()", 1)[1].split("endmacro", 1)[0]
    assert tuple(re.findall(r"'([^']+)'", body)) == TIMESTAMP_FORMATS
