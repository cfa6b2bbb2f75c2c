# Two commands for a fresh machine: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
RUN := $(CURDIR)/tools/with_env.sh

.PHONY: setup demo test lint typecheck unit bench clean

setup:
	@PYTHON=$(PYTHON) ./tools/bootstrap.sh
	@./tools/install_mosquitto.sh

demo: setup
	@$(RUN) roadedge demo

lint: setup
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .

typecheck: setup
	@$(RUN) mypy

# The tests are CPU-bound and mostly single-threaded (the HIL scenarios most of all): two worker
# processes (pytest-xdist, local pipes, each with a DDS domain of its own) halve the time on a
# 2-core machine. PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= 2

# pytest exits 5 when it collects no test: say so instead of failing obscurely.
test: setup lint typecheck
	@rc=0; $(RUN) python -m pytest -n $(PYTEST_WORKERS) --dist worksteal || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(RUN) python $$b || exit 1; done

clean:
	rm -rf $(VENV) build out .pytest_cache .mypy_cache .ruff_cache
