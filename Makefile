# bayesmeta: two commands do all set-up on a fresh machine.
#   make reproduce   create .venv, install, run the main job on the bundled default data
#   make test        create .venv, install, lint, type-check, run the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Find a Python >= 3.12: $PYTHON if set, then pythonX.Y on PATH, then pyenv's versions.
FIND_PYTHON = for c in "$$PYTHON" python3.14 python3.13 python3.12 python3 \
	$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	  [ -n "$$c" ] || continue; p=$$(command -v "$$c" 2>/dev/null) || continue; \
	  "$$p" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { echo "$$p"; exit 0; }; \
	done; exit 1

.PHONY: help venv reproduce test lint typecheck docs bench clean

help:
	@echo "make reproduce | make test | make docs | make lint | make bench | make clean"

$(STAMP): pyproject.toml
	@py=$$($(FIND_PYTHON)) || { echo "error: bayesmeta needs Python >= 3.12 (PyMC 6 / ArviZ 1); none found on PATH or in pyenv. Install one or set PYTHON=/path/to/python3.12." >&2; exit 1; }; \
	echo "using $$py ($$($$py --version))"; \
	[ -x $(PY) ] && $(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' || { rm -rf $(VENV); "$$py" -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,docs,fast]'
	@touch $(STAMP)

venv: $(STAMP)

reproduce: $(STAMP)
	$(VENV)/bin/bayesmeta reproduce

lint: $(STAMP)
	$(VENV)/bin/ruff check bayesmeta tests examples benchmarks docs/*.py
	$(VENV)/bin/ruff format --check bayesmeta tests examples benchmarks docs/*.py

typecheck: $(STAMP)
	$(VENV)/bin/mypy bayesmeta

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test: lint typecheck docs
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
