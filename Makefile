# The front door: `make demo`, `make test`, `make run START=... END=...`, `make ui`.
PYTHON ?= python3.11
VENV := .venv
UV := .tools/bin/uv
PY := $(VENV)/bin/python
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
# dbt, dagster and dagster-dbt from the project environment, as if it were activated.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install manifest demo run ui test lint validate clean

install: $(VENV)/.installed

# uv lives in its own small venv: `uv sync` would remove it from the project venv.
$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check 'uv>=0.5,<1'

$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
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

test: install
	$(PY) -m pytest

validate: install
	$(PY) -m toast_assets.demo.cli validate

clean:
	rm -rf .demo .dagster_home .data .pytest_cache
