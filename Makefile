# Set-up and common tasks. `make run` and `make test` each install what they need first;
# `make test` runs `make lint` before the tests.
# The pinned torch is the CPU wheel on machines that provide it locally, and the default
# CUDA build from PyPI elsewhere; override with e.g. `make TORCH="torch==2.13.0" run`.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN     = $(VENV)/bin

.PHONY: install run lint test test-all bench clean

$(BIN)/kanpde: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test,cluster,tune]"
	touch $@

install: $(BIN)/kanpde

run: install
	$(BIN)/kanpde $(ARGS)

# linters, the type checker and the import-layering contracts of DESIGN.md (pyproject.toml)
lint: install
	$(BIN)/ruff check kanpde tests && $(BIN)/mypy kanpde && $(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

test-all: lint
	$(BIN)/python -m pytest -m "slow or not slow"

# speed benchmark against pykan (installs the optional 'bench' extra); ARGS go to kanpde-bench speed
bench: install
	$(BIN)/pip install --quiet -e ".[test,cluster,tune,bench]"
	$(BIN)/kanpde-bench speed $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info
