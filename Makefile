# kapsec developer entry points. `make demo` and `make test` work on a fresh machine:
# both create .venv through `make install` when it is missing.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the tests use as real services or reference tools (command:package).
SYSTEM_TOOLS := jq:jq openssl:openssl etcd:etcd-server etcdctl:etcd-client rsyslogd:rsyslog chromium:chromium
DEMO_DIR := .demo-lab

.PHONY: install system-deps demo test lint typecheck unit bench readme clean

install: $(STAMP) system-deps

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Install the Debian packages for anything missing; quiet when all are present.
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/bin/$$cmd ] || [ -x /usr/sbin/$$cmd ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "warning: missing$$missing; the tests that need them will be skipped" >&2; \
	  fi; \
	fi

demo: install
	@rm -rf $(DEMO_DIR)
	$(BIN)/kapsec lab init $(DEMO_DIR)
	@# scan exits 1 when checks fail, as they do on kubeadm's unhardened defaults; 2 is a real error
	@$(BIN)/kapsec scan --root $(DEMO_DIR); rc=$$?; \
	  if [ $$rc -eq 1 ]; then echo "(exit 1: checks failed, as expected on an unhardened lab; try: .venv/bin/kapsec harden --root $(DEMO_DIR))" >&2; fi; \
	  [ $$rc -le 1 ]

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -n 2

test: install lint typecheck unit

readme: $(STAMP)
	$(BIN)/python scripts/build_readme.py

bench: install
	$(BIN)/python benchmarks/run_all.py $(BENCH)

clean:
	rm -rf $(VENV) $(DEMO_DIR) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
