# Integrationsmonitor: the two commands of the README are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
IMON_LANDING_DIR ?= data/landing
IMON_DATA_DIR ?= data
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_DISABLE_TELEMETRY := 1
export IMON_LANDING_DIR IMON_DATA_DIR

.PHONY: setup manifest browser run test bench dev clean

# The venv is rebuilt only when the dependency pins change.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# dbt parses with the dbt project as working directory (seed paths break otherwise).
manifest: setup
	cd dbt_project && ../$(BIN)/dbt parse --quiet --profiles-dir .

run: manifest
	@if [ -z "$$(find $(IMON_LANDING_DIR) -type f 2>/dev/null | head -1)" ] && \
	    [ -z "$$(find $(IMON_DATA_DIR)/archive -type f 2>/dev/null | head -1)" ]; then \
	  echo "Posteingang leer: erzeuge synthetische Demo-Extrakte in $(IMON_LANDING_DIR)"; \
	  $(BIN)/imon generate --out $(IMON_LANDING_DIR) --start 2023-01 --months 24 --scale 0.05 --seed 1; \
	fi
	$(BIN)/imon refresh --demo
	@echo ""
	@echo "Veröffentlichter Stand: $(IMON_DATA_DIR)/published/monitoring.duckdb"
	@echo "  ansehen:  $(BIN)/python -c \"import duckdb; print(duckdb.connect('$(IMON_DATA_DIR)/published/monitoring.duckdb', read_only=True).sql('from latest_values limit 20'))\""
	@echo "  Status:   $(BIN)/imon status"
	@echo "  Oberfläche: make dev  (Dagster UI mit Assets, Checks, Zeitplan, Sensor)"
	@if [ -f $(IMON_DATA_DIR)/reports/index.html ]; then echo "Bericht:   $(IMON_DATA_DIR)/reports/index.html"; fi
	@if [ -f $(IMON_DATA_DIR)/reports/dbt-docs/index.html ]; then echo "dbt-Doku:  $(IMON_DATA_DIR)/reports/dbt-docs/index.html"; fi

# Debian's chromium for the report's browser test; best effort (the test skips with a reason
# where it cannot be installed, e.g. without root or apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium nicht installiert: Browser-Test des Berichts wird übersprungen"; }

test: manifest browser
	$(BIN)/pytest -q

bench: manifest
	$(BIN)/python tests/bench.py

dev: manifest
	IMON_DAGSTER_DIR=$(abspath $(IMON_DATA_DIR))/dagster \
	IMON_DAGSTER_COMPUTE_LOGS_DIR=$(abspath $(IMON_DATA_DIR))/dagster/compute_logs \
	DAGSTER_HOME=$(CURDIR) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dagster dev -m orchestration.definitions

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
