# Every target creates/updates .venv/ in the project root first; nothing else needs installing.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
UNITS ?= 1000000
SEED ?= 7

.PHONY: demo web web-assets chromium test lint bench peers gate protos clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The main job: generate a sample genealogy, build its snapshot, answer sample recall queries.
demo: $(STAMP)
	$(VENV)/bin/tracegraph demo --units $(UNITS) --seed $(SEED) --work demo-data

# The web app on the demo data (after `make demo`): loopback only, no sign-in (--no-auth,
# audited); a shared server runs `tracegraph web --data DIR` with users instead.
web: $(STAMP)
	$(VENV)/bin/tracegraph web --data demo-data/data --no-auth --port 8080

# Rebuild server/static/app.js from web/src (Node and npm; the bundle is committed).
web-assets:
	scripts/build-web

# The web pages are tested in Debian's Chromium: install it when it is missing.
chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the web page tests"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo -n ) apt-get update -q >/dev/null && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo -n ) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q chromium >/dev/null; }

# The whole test suite, then lint, type checks and the generated-code drift checks.
test: $(STAMP) chromium
	$(VENV)/bin/python -m pytest -q
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	PYTHON=$(VENV)/bin/python scripts/gen-protos --check
	scripts/build-web --check

# Regenerate server/rpc from proto/ with the pinned grpcio-tools.
protos: $(STAMP)
	PYTHON=$(VENV)/bin/python scripts/gen-protos

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Benchmarks at a chosen scale (UNITS=1000000 by default); not part of `make test`.
bench: $(STAMP)
	$(VENV)/bin/python -m pytest benchmarks --benchmark-only --units $(UNITS) --benchmark-columns=min,median,mean,max,rounds -p no:cacheprovider

# Side-by-side with networkx, igraph, scipy, DuckDB, SQLite and Kuzu on the same genealogy;
# writes bench-data/peers-u$(UNITS)/results.md and results.png.
peers: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[dev,peers]'
	$(VENV)/bin/python -m benchmarks.peers.run --units $(UNITS) --repeat 3 --out bench-data/peers-u$(UNITS)

# The CI speed gate: ratios against networkx and scipy, and a case diff against one impact,
# each measured in the same run at 100k units.
gate: $(STAMP)
	$(VENV)/bin/python -m benchmarks.peers.run --units 100000 --peers networkx,scipy --repeat 3 --gate
	$(VENV)/bin/python -m benchmarks.recall_ratio --units 100000 --gate

clean:
	rm -rf $(VENV) demo-data bench-data .node web/node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
