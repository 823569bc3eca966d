# octo-assets: `make run` builds the lake and catalog from data/; `make test` runs the tests.
# The first Python 3.11 or newer on PATH (each is run: a pyenv shim of a version not selected
# fails and is skipped), or `make PYTHON=/path/to/python ...`. Expanded only to create the venv.
PYTHONS := python3.13 python3.12 python3.11 python3
PYTHON ?= $(firstword $(foreach p,$(PYTHONS),$(if $(shell $(p) -c 'import sys; print(sys.version_info >= (3, 11))' 2>/dev/null | grep True),$(p))))
VENV := .venv
PORT ?= 3000
BIN := $(VENV)/bin
JOBS ?= $(shell nproc 2>/dev/null || echo 2)  # test processes: one a core
TEST_TIMES := .pytest_cache/octo-test-times.jsonl  # each test's time, for make test's report
export DAGSTER_HOME := $(CURDIR)/.dagster

.PHONY: run test test-quick ui sql bench migrate clean

$(BIN)/activate: pyproject.toml
	@[ -n "$(PYTHON)" ] || { echo "No Python 3.11 or newer among $(PYTHONS): install one or run 'make PYTHON=/path/to/python3 ...'"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "$(PYTHON) is not Python 3.11 or newer: run 'make PYTHON=/path/to/python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/activate

$(DAGSTER_HOME)/dagster.yaml: config/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp config/dagster.yaml $@

run: $(BIN)/activate $(DAGSTER_HOME)/dagster.yaml  ## materialise every asset for every landed day; ARGS='--from 2021-01-02 --to 2021-01-03' a range
	$(BIN)/python -m octo_assets.run $(ARGS)

test: $(BIN)/activate  ## the whole suite: on every core, then the `serial` tests alone; prints each tier's time
	@mkdir -p .pytest_cache && rm -f $(TEST_TIMES)
	@status=0; \
	OCTO_TEST_TIMES=$(TEST_TIMES) $(BIN)/python -m pytest -n $(JOBS) --dist loadscope -m "not serial" || status=$$?; \
	OCTO_TEST_TIMES=$(TEST_TIMES) $(BIN)/python -m pytest -m serial || status=$$?; \
	$(BIN)/python -m octo_assets_tests.support.suite $(TEST_TIMES); \
	exit $$status

test-quick: $(BIN)/activate  ## the engine and in-process tiers, on disk only (no server, browser, command or large input)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadscope -m "(engine or in_process) and not s3"

ui: $(BIN)/activate $(DAGSTER_HOME)/dagster.yaml  ## the Dagster UI on http://127.0.0.1:$(PORT) (make ui PORT=3001)
	@# started in the background from a script, SIGINT is ignored, and dg dev would then ignore SIGTERM
	@# too (it handles SIGTERM as SIGINT): give it SIGINT's default back, so that `kill` stops it
	VIRTUAL_ENV=$(CURDIR)/$(VENV) exec $(BIN)/python -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
	  $(BIN)/dg dev -h 127.0.0.1 -p $(PORT)

sql: $(BIN)/activate  ## a DuckDB SQL prompt on the catalog (read-only); ARGS='--max-rows all' etc.
	$(BIN)/python -m octo_assets.sql $(ARGS)

migrate: $(BIN)/activate  ## convert a Parquet lake from before Delta (OCTO_LAKE_DIR) into Delta tables, in place
	$(BIN)/python -m octo_assets.migrate

clean:  ## remove everything the pipeline generated (not the venv)
	rm -rf data/lake data/warehouse.duckdb $(DAGSTER_HOME)
