"""The dbt models stay in one SQL style: sqlfluff with the project's .sqlfluff, offline."""

import subprocess
import sys
from pathlib import Path

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def test_models_lint_clean() -> None:
    sqlfluff = str(Path(sys.executable).with_name("sqlfluff"))
    result = subprocess.run([sqlfluff, "lint", "models", "tests"], cwd=DBT_DIR, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
