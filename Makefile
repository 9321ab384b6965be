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

.PHONY: setup manifest browser run test bench dev clean bi bi-setup bi-stop bi-analyst

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

# Debian's chromium (report and BI browser tests) and chromium-driver (Selenium, BI test);
# best effort (the tests skip with a reason where they cannot be installed, e.g. without root or apt).
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "chromium/chromium-driver nicht installiert: Browser-Tests werden übersprungen"; }

# Superset (make bi) has a venv of its own: it needs SQLAlchemy 1.4, the project 2.x.
BI_VENV := .venv-bi
$(BI_VENV)/.installed: bi/requirements.txt bi/constraints.txt
	$(PYTHON) -m venv $(BI_VENV)
	$(BI_VENV)/bin/pip install --quiet --upgrade pip
	$(BI_VENV)/bin/pip install --quiet -c bi/constraints.txt -r bi/requirements.txt
	touch $@

bi-setup: $(BI_VENV)/.installed

# Superset on 127.0.0.1 against the current published set (docs/bi.md): publish it to the
# PostgreSQL serving schema, then metadata DB, admin, databases, dashboards, server. Idempotent.
bi: setup bi-setup
	$(BIN)/python -m bi.publish
	$(BI_VENV)/bin/python bi/admin.py up

# An analyst account: dashboards and SQL Lab on the published set only (docs/bi.md).
# Password from IMON_BI_ANALYST_PASSWORD, else a random one is printed once.
bi-analyst: bi-setup
	@if [ -z "$(NAME)" ]; then echo "Aufruf: make bi-analyst NAME=<benutzername>"; exit 64; fi
	$(BI_VENV)/bin/python bi/admin.py analyst "$(NAME)"

bi-stop:
	@if [ -x $(BI_VENV)/bin/python ]; then $(BI_VENV)/bin/python bi/admin.py stop; else echo "Superset läuft nicht."; fi

# One pytest worker per core (pytest-xdist); a test file stays on one worker, so its module
# fixtures (a shared refresh, a Superset) are built once. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= auto
test: manifest browser bi-setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

bench: manifest
	$(BIN)/python tests/bench.py

dev: manifest
	IMON_DAGSTER_DIR=$(abspath $(IMON_DATA_DIR))/dagster \
	IMON_DAGSTER_COMPUTE_LOGS_DIR=$(abspath $(IMON_DATA_DIR))/dagster/compute_logs \
	DAGSTER_HOME=$(CURDIR) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dagster dev -m orchestration.definitions

clean:
	rm -rf $(VENV) $(BI_VENV) dbt_project/target dbt_project/logs
