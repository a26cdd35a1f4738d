# The two commands: `make demo` (needs only Python 3.11+) and `make test` (also Java 17 + Maven
# for the real Kafka broker, which the tests start and stop themselves).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# uv comes from PyPI into the venv, so a fresh machine needs only Python; uv.lock pins the rest.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | cksum | cut -d' ' -f1)
# The lowest versions pyproject.toml allows for the direct dependencies (`make lowest`).
LOWEST := .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-tools lint typecheck unit integration e2e venv lowest clean bench kafka-up kafka-down

demo: $(STAMP)
	$(BIN)/pipeline demo

test: $(STAMP) test-tools lint typecheck
	$(PY) -m pytest
	$(MAKE) lowest

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests bench deploy
	$(BIN)/ruff format --check pipeline tests bench deploy

typecheck: $(STAMP)
	$(BIN)/mypy

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

$(STAMP): pyproject.toml uv.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	# Exactly the locked versions; --inexact keeps pip and uv themselves in the venv. Bytecode
	# is compiled once here, so that every process (workers included) starts without compiling
	# ~2,000 modules, even where PYTHONDONTWRITEBYTECODE is set.
	$(UV) sync --quiet --frozen --inexact --compile-bytecode --extra dev --python $(PY)
	$(PY) -m compileall -q pipeline
	rm -f $(VENV)/.installed-*
	touch $@

# The unit tests on the lowest direct versions pyproject.toml allows, so its floors stay true.
# Left out: the check that schemas/ is what the LOCKED pydantic generates (older pydantic writes
# the same schemas in other words: `0.0` for `0`, an extra one-value `enum` beside `const`).
lowest: $(LOWEST_STAMP)
	$(LOWEST)/bin/python -m pytest tests/unit -q -p no:cacheprovider \
		--deselect tests/unit/test_schemas.py::test_the_files_in_the_repository_are_what_the_models_generate

$(LOWEST_STAMP): pyproject.toml $(STAMP)
	rm -rf $(LOWEST)
	$(UV) venv --quiet --python $(PY) $(LOWEST)
	$(UV) pip compile --quiet --extra dev --resolution lowest-direct --python $(LOWEST)/bin/python \
		pyproject.toml -o $(LOWEST)/requirements.txt
	$(UV) pip sync --quiet --python $(LOWEST)/bin/python $(LOWEST)/requirements.txt
	$(UV) pip install --quiet --python $(LOWEST)/bin/python --no-deps -e .
	touch $@

clean:
	rm -rf $(VENV) $(LOWEST) data .cache .pytest_cache .mypy_cache .ruff_cache

include Makefile.kafka
include Makefile.ops
