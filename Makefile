# Two entry points, both safe to run again and again on a fresh Debian 12 machine as root:
#   make demo   installs what it needs, then runs the main job on the embedded default
#   make test   installs what it needs, then runs every check and every test
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck contracts pytest install compile bench bench-control-plane bench-vm errors-doc clean

$(STAMP): pyproject.toml scripts/bootstrap
	bash scripts/bootstrap
	touch $(STAMP)

install: $(STAMP)

demo: compile
	$(PY) scripts/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(VENV)/bin/mypy

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

pytest: $(STAMP)
	bash scripts/run-pytest

check: lint typecheck contracts

test: check pytest

errors-doc: $(STAMP)
	$(PY) -m rsvault.errors.docgen > docs/errors.md

# Byte-code for the sources, written even where PYTHONDONTWRITEBYTECODE is set: otherwise every
# CLI call compiles rsvault anew, and the benchmarks would time the compiler.
compile: $(STAMP)
	$(PY) -m compileall -q src

bench: compile
	bash bench/install-peers
	$(PY) bench/run.py

bench-vm: compile
	bash bench/install-peers
	$(PY) bench/vm.py

bench-control-plane: compile
	cd bench && ../$(PY) controlplane.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
