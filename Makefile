# quantbook entry points. `make book` sets everything up and builds the site on the embedded
# synthetic market; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= default
STORE ?= default
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: setup data data-smoke store reports book notebooks-smoke test lint typecheck bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (quantbook)" >/dev/null
	touch $@

data: setup
	$(BIN)/quantbook data build --source synthetic --preset $(PRESET) --name $(STORE)

data-smoke: setup
	$(BIN)/quantbook data build --source synthetic --preset smoke --name smoke

# A store exists when its store.json does (honours QUANTBOOK_DATA like the code does).
HAS_STORE = $(BIN)/python -c "import sys; from quantbook.data.store import data_root; sys.exit(0 if (data_root() / '$(1)' / 'store.json').is_file() else 1)"

store: setup
	@$(call HAS_STORE,$(STORE)) || $(BIN)/quantbook data build --source synthetic --preset $(PRESET) --name $(STORE)

# Run every scheduled report date (params/schedule.yml) that has no page yet.
reports: store
	$(BIN)/quantbook run-due --data $(STORE)

# The published site: store if missing, due reports, generated pages, strict jupyter-book build.
book: reports
	$(BIN)/quantbook book --data $(STORE)

# Rebuild the smoke store, then re-execute each notebooks/*.ipynb in place with
# params/*.smoke.yml on it: the committed outputs that nbval compares against
# (tests/test_notebooks.py, which rebuilds the smoke store the same way).
notebooks-smoke: data-smoke
	$(BIN)/python -m quantbook.runner refresh-notebooks

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check lib tests benchmarks
	$(BIN)/ruff format --check lib tests benchmarks
	PYTHONPATH=lib $(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

bench: setup
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) book/_build
