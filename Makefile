# The two commands of the README: `make demo` and `make test`. Both set up the environment first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "qtenancy needs Python 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

demo: setup
	$(BIN)/qtenancy emulate --scenario scenarios/game-day.yaml --days 7 --seed 1 --out runs/demo

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m bench.emulator

clean:
	rm -rf $(VENV) runs .pytest_cache
