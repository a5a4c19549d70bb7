# The two commands of the README: `make demo` and `make test`. Both set up the environment first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

RUNBOOK_BASE := https://github.com/qtenancy/qtenancy/blob/main/docs/runbooks
SYSTEM_PACKAGES := prometheus prometheus-alertmanager chromium
SYSTEM_TOOLS := promtool prometheus amtool chromium

.PHONY: setup system demo test bench deploy clean

setup: $(STAMP)

# Debian packages whose real binaries the tests use; installed when running as root (as CI does).
system:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing $(SYSTEM_PACKAGES) for:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
		else \
			echo "missing:$$missing (apt-get install $(SYSTEM_PACKAGES) as root); the tests that need them will skip, or fail under CI=true"; \
		fi; \
	fi

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "qtenancy needs Python 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

demo: setup
	$(BIN)/qtenancy demo --out runs/demo

test: setup system
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m bench.emulator
	$(BIN)/python -m bench.telemetry
	$(BIN)/python -m bench.collector
	$(BIN)/python -m bench.slo
	$(BIN)/python -m bench.cli_start
	$(BIN)/python -m bench.otlp_export
	$(BIN)/python -m bench.demo
	$(BIN)/python -m bench.correlate_scale

# The generated configuration that docker-compose.yml mounts (a test keeps the committed copy current).
deploy: setup
	$(BIN)/qtenancy alerts generate slo/specs -o deploy/generated --runbook-base $(RUNBOOK_BASE) \
		--page-url http://alert-sink:9095/page --ticket-url http://alert-sink:9095/ticket
	$(BIN)/qtenancy dashboards generate -o deploy/generated/dashboards

clean:
	rm -rf $(VENV) runs .pytest_cache
