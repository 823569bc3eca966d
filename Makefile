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

.PHONY: run test test-quick ui sql bench migrate clean help

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

run: $(BIN)/activate $(DAGSTER_HOME)/dagster.yaml  ## bring the lake up to date: build only what changed, say why; ARGS='--from 2021-01-02 --to 2021-01-03' rebuilds a range
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

# `make ui` first checks that its port is free (dg dev on a port in use starts its daemon, prints
# "Serving", fails to bind and never exits): one sentence naming the process holding it, if this
# user can see it (/proc), and a free port to use instead
define UI_PORT_CHECK
import os, socket, sys
text = sys.argv[1]
if not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
    sys.exit(f"make ui: PORT={text} is not a port; give a number from 1 to 65535, as in make ui PORT=3001.")
port = int(text)
def free(number):
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the webserver binds
        try:
            probe.bind(("127.0.0.1", number))
        except OSError:
            return False
    return True
def holder(number):
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for fields in (line.split() for line in lines):
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == number:
                sockets.add(f"socket:[{fields[9]}]")
    for pid in sorted(filter(str.isdigit, os.listdir("/proc")) if sockets else [], key=int):
        try:
            if sockets & {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}:
                return f" by process {pid} ({open(f'/proc/{pid}/comm').read().strip()})"
        except OSError:
            continue
    return ""
if not free(port):
    other = next((n for n in range(port + 1, min(port + 100, 65536)) if free(n)), port + 1)
    sys.exit(f"make ui: port {port} is in use{holder(port)}; stop it, or run make ui PORT={other}.")
endef
export UI_PORT_CHECK

ui: $(BIN)/activate $(DAGSTER_HOME)/dagster.yaml  ## the Dagster UI on http://127.0.0.1:$(PORT) (make ui PORT=3001)
	@$(BIN)/python -c "$$UI_PORT_CHECK" '$(PORT)'
	@# started in the background from a script, SIGINT is ignored, and dg dev would then ignore SIGTERM
	@# too (it handles SIGTERM as SIGINT): give it SIGINT's default back, so that `kill` stops it
	VIRTUAL_ENV=$(CURDIR)/$(VENV) exec $(BIN)/python -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
	  $(BIN)/dg dev -h 127.0.0.1 -p $(PORT)

sql: $(BIN)/activate  ## a DuckDB SQL prompt on the catalog (read-only); ARGS='--max-rows all' etc.
	$(BIN)/python -m octo_assets.sql $(ARGS)

bench: $(BIN)/activate  ## README's Performance benchmarks: bench.run --all, bench.up_to_date (15+ min, GBs in /tmp/octo-bench); ARGS='--fixed-cost' etc.: that part of bench.run
	$(if $(ARGS),$(BIN)/python -m bench.run $(ARGS),$(BIN)/python -m bench.run --all && $(BIN)/python -m bench.up_to_date)

migrate: $(BIN)/activate  ## convert a Parquet lake from before Delta (OCTO_LAKE_DIR) into Delta tables, in place; ARGS=--help
	$(BIN)/python -m octo_assets.migrate $(ARGS)

clean:  ## remove everything the pipeline generated (not the venv)
	rm -rf data/lake data/warehouse.duckdb $(DAGSTER_HOME)

help:  ## these targets and what they do (make alone only creates or updates the venv)
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { gsub(/\$$\(PORT\)/, "$(PORT)", $$2); printf "  make %-11s %s\n", $$1, $$2 }' \
	  $(firstword $(MAKEFILE_LIST))
	@echo "  options: ARGS='...' (run, sql, bench), PORT=3001 (ui), JOBS=1 (test), PYTHON=/path/to/python3 (the venv)"
