# The usual checks; .ci/run makes the same ones from a clean clone.
# Run `python3 -m venv .venv && .venv/bin/pip install -e '.[test]'` first.
PYTHON ?= .venv/bin/python
BIN := $(dir $(PYTHON))
SOURCES := gateway backend tests bench

.PHONY: all check test lint format type contracts bench docs

all: check

check: lint type contracts test

test:
	$(PYTHON) -m pytest -q

lint:
	$(BIN)ruff check $(SOURCES)
	$(BIN)ruff format --check $(SOURCES)

format:
	$(BIN)ruff check --fix $(SOURCES)
	$(BIN)ruff format $(SOURCES)

type:
	$(BIN)mypy

contracts:
	$(BIN)lint-imports

# Several minutes; writes bench/RESULTS.md (method in docs/benchmarks.md).
bench:
	$(PYTHON) bench/signatures.py
	$(PYTHON) bench/load.py

# The configuration reference is generated from the settings schema.
docs:
	$(PYTHON) -m gateway config reference > docs/configuration.md
