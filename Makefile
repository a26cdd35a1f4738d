# The two commands: `make demo` (needs only Python 3.11+) and `make test` (also Java 17 + Maven
# for the real Kafka broker, which the tests start and stop themselves).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-tools lint typecheck unit integration e2e venv clean bench kafka-up kafka-down

demo: $(STAMP)
	$(BIN)/pipeline demo

test: $(STAMP) test-tools
	$(BIN)/ruff check pipeline tests bench deploy
	$(BIN)/ruff format --check pipeline tests bench deploy
	$(BIN)/mypy
	$(PY) -m pytest

test-tools:
	deploy/dev/install-test-tools.sh

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

bench: $(STAMP)
	$(PY) -m bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) data .cache .pytest_cache .mypy_cache .ruff_cache

include Makefile.kafka
include Makefile.ops
