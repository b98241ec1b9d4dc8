# Two commands from a fresh clone: `make demo` and `make test`. Each creates .venv and installs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ROWS ?= 50000
# Debian packages of the embedded servers: installed when missing where apt-get can (root, as in CI); on
# other machines the backends that need them show "skipped: install ...".
DEBIAN_PACKAGES ?= postgresql redis-server redis-tools
# Debian's chromium and its driver, for the HTML report's browser test.
BROWSER_PACKAGES ?= chromium chromium-driver

# Installs the Debian packages $(1) that are missing where apt-get can (root, as in CI); elsewhere says
# what to install and what that means ($(2)).
define install_missing
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "not installed: $$missing (apt-get install $$missing); $(2)"; fi
endef

.PHONY: demo demo-stores test bench lint install browser clean debian-packages

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP) debian-packages

debian-packages:
	$(call install_missing,$(DEBIAN_PACKAGES),the backends that need them are skipped)

## Run every backend on a generated 50k-row table (embedded MongoDB and Kafka started and stopped for you).
demo: $(STAMP) debian-packages
	$(BIN)/storeadvise bench --sample tabular --rows $(ROWS)

## The stores you outgrow into (embedded PostgreSQL and Redis, Delta Lake, Iceberg, Lance) beside Parquet
## and SQLite, and Parquet on the embedded S3 server, on the same sample; a second target so that
## `make demo` stays the six core backends.
demo-stores: $(STAMP) debian-packages
	$(BIN)/storeadvise bench --sample tabular --rows $(ROWS) -b parquet,sqlite,postgres,redis,delta,iceberg,lance,parquet@s3

## Debian's chromium and its driver for the HTML report's browser test (see install_missing).
browser:
	$(call install_missing,$(BROWSER_PACKAGES),the browser test skips (in CI it fails))

## The whole test suite, embedded servers included.
test: $(STAMP) debian-packages browser
	$(BIN)/python -m pytest -q

## The project's own benchmark suite (storeadvise vs direct library calls); not part of `make test`.
bench: $(STAMP) debian-packages
	STOREADVISE_PERF=1 $(BIN)/python -m pytest -q tests/perf --benchmark-columns=median,iqr,rounds --benchmark-sort=name

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
