# Every target creates/updates .venv/ in the project root first; nothing else needs installing.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
UNITS ?= 1000000
SEED ?= 7

.PHONY: demo test lint bench protos clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The main job: generate a sample genealogy, build its snapshot, answer sample recall queries.
demo: $(STAMP)
	$(VENV)/bin/tracegraph demo --units $(UNITS) --seed $(SEED) --work demo-data

# The whole test suite, then lint, type checks and the generated-code drift check.
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	PYTHON=$(VENV)/bin/python scripts/gen-protos --check

# Regenerate server/rpc from proto/ with the pinned grpcio-tools.
protos: $(STAMP)
	PYTHON=$(VENV)/bin/python scripts/gen-protos

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Benchmarks at a chosen scale (UNITS=1000000 by default); not part of `make test`.
bench: $(STAMP)
	$(VENV)/bin/python -m pytest benchmarks --benchmark-only --units $(UNITS) --benchmark-columns=min,median,mean,max,rounds -p no:cacheprovider

clean:
	rm -rf $(VENV) demo-data bench-data .node .pytest_cache .mypy_cache .ruff_cache .hypothesis
