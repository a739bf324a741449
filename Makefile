# Liandong — everything sets itself up on a fresh machine: venv, Python packages (pinned by
# requirements/constraints.txt), Debian packages for browser tests, front-end assets from npm.

PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ASSETS := src/liandong/web/static/vendor/echarts/echarts.min.js
APT_STAMP := var/.apt-stamp

.PHONY: demo test bench lint serve migrate clean setup

setup: $(STAMP) $(ASSETS)

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c requirements/constraints.txt -e '.[dev]'
	@touch $(STAMP)

$(ASSETS): package.json package-lock.json scripts/vendor_assets.sh
	bash scripts/vendor_assets.sh

# Chromium and a CJK font for the browser tests (Debian packages; installed only when missing).
$(APT_STAMP):
	@mkdir -p var
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy"; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium fonts-wqy-microhei >/dev/null; \
	  else echo "note: chromium/fonts-wqy-microhei missing and not root: browser tests will be skipped"; fi; \
	fi
	@touch $(APT_STAMP)

migrate: $(STAMP)
	$(BIN)/liandong migrate

demo: $(STAMP) $(ASSETS)
	$(BIN)/liandong demo

serve: $(STAMP) $(ASSETS)
	$(BIN)/liandong serve

test: $(STAMP) $(ASSETS) $(APT_STAMP)
	$(BIN)/pytest

# wrk (Debian) drives the HTTP benchmarks: a C load generator leaves the two cores to the servers.
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; } || \
	  echo "note: wrk missing and not root: HTTP intake figures will be skipped"
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf var/liandong.db* var/bench var/screenshots
