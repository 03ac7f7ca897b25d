# The front door: `make demo`, `make test`, `make run START=... END=...`, `make ui`.
PYTHON ?= python3.11
VENV := .venv
UV := .tools/bin/uv
PY := $(VENV)/bin/python
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
# dbt, dagster and dagster-dbt from the project environment, as if it were activated.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install manifest demo run ui test lint validate audit bench clean

install: $(VENV)/.installed

# uv lives in its own small venv: `uv sync` would remove it from the project venv.
$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check 'uv>=0.5,<1'

# Bytecode compiled once here (about 30 s): where PYTHONDONTWRITEBYTECODE is set (many CI and
# container images), every Python process would otherwise compile Dagster, pandas and dbt from
# source on import (the definitions 13.7 s instead of 6.5 s, `make demo` 56 s instead of 40 s).
$(VENV)/.installed: uv.lock pyproject.toml Makefile | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(MAKE) manifest
	touch $@

# The dbt manifest the Dagster assets are defined from, prepared once instead of on every load.
manifest:
	$(VENV)/bin/dagster-dbt project prepare-and-package --file toast_assets/dbt/project.py

demo: install
	$(PY) -m toast_assets.demo.cli demo

run: install
	@if [ -z "$(START)" ] || [ -z "$(END)" ]; then echo "usage: make run START=YYYY-MM-DD END=YYYY-MM-DD"; exit 2; fi
	$(PY) -m toast_assets.demo.cli run --start $(START) --end $(END)

ui: install
	$(PY) -m toast_assets.demo.cli ui

# Two workers by default (TEST_WORKERS=1 for one process); a file's tests stay in one worker,
# so a file's servers and fixtures are started once.
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

validate: install
	$(PY) -m toast_assets.demo.cli validate

# Known vulnerabilities in the locked dependencies (uv.lock), looked up by pip-audit in PyPI's
# advisory data. Exit 3: the vulnerability service was unreachable, so nothing was audited.
audit: install
	$(PY) .ci/audit.py

# Performance against the physical floor (benchmarks/README.md): the full configuration by
# default (hours on a busy 2-core machine), `make bench QUICK=1` for a small one in minutes,
# BENCH_ARGS for anything else (e.g. BENCH_ARGS="--workloads day --day-locations 100").
bench: install
	$(PY) -m benchmarks $(if $(QUICK),--config quick) $(BENCH_ARGS)

clean:
	rm -rf .demo .dagster_home .data .pytest_cache
