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

# pytest exits 5 when it collects no test: say so instead of failing obscurely.
test: setup lint typecheck
	@rc=0; $(RUN) python -m pytest || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(RUN) python $$b || exit 1; done

clean:
	rm -rf $(VENV) build out .pytest_cache .mypy_cache .ruff_cache
