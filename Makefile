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

.PHONY: setup data data-smoke test lint typecheck bench clean

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

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check lib tests benchmarks
	$(BIN)/ruff format --check lib tests benchmarks

typecheck: setup
	$(BIN)/mypy

bench: setup
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) book/_build
