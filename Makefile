# The usual checks; .ci/run makes the same ones from a clean clone.
# Run `python3 -m venv .venv && .venv/bin/pip install -e '.[test]'` first.
PYTHON ?= .venv/bin/python
BIN := $(dir $(PYTHON))
SOURCES := gateway backend tests bench

.PHONY: all check test lint format type contracts bench docs client-sync

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

# The bot client's distribution carries copies of the gateway's encoders
# (tests/unit/test_client_package.py checks they match): copy them again.
client-sync:
	for m in address errors evm stacks clarity eip712 sip018 order_schemes; do \
	  sed -e 's/^from gateway\.wallets/from walletgate_client._wallets/; s/^from gateway\.order_spec/from walletgate_client._wallets.order_spec/' \
	    gateway/wallets/$$m.py > clients/python/walletgate_client/_wallets/$$m.py; done
	sed -e 's/^from gateway\.wallets/from walletgate_client._wallets/' gateway/order_spec.py \
	  > clients/python/walletgate_client/_wallets/order_spec.py
	$(BIN)ruff check --fix -q clients/python
	$(BIN)ruff format -q clients/python
