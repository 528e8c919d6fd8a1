# Two commands for a new user: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test install lint docs system-deps services bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml media/_fastpath.c | $(PY)
	@echo "installing the platform into $(VENV) ..."
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

$(TEST_STAMP): pyproject.toml $(RUN_STAMP)
	@echo "installing test dependencies into $(VENV) ..."
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

install: $(RUN_STAMP)

## Start the platform on its embedded defaults (SQLite, local objects, in-process bus) and print demo links.
run: $(RUN_STAMP)
	$(VENV)/bin/hearing serve --demo

system-deps:
	@bash scripts/ensure-system-deps.sh

services:
	@bash scripts/ensure-services.sh

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m signaling.protocol_doc --check
	$(PY) -m hearing.permissions_doc --check

docs: $(RUN_STAMP)
	$(PY) -m signaling.protocol_doc

## Install everything the tests need, make sure Redis and PostgreSQL answer, and run the suite.
test: $(TEST_STAMP) system-deps services lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis test-artifacts
