# Each target sets up its own virtual environment on first use (and again when pyproject.toml
# changes), so `make demo` and `make test` work on a fresh machine by themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-all lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,sweep]"
	touch $(STAMP)

install: $(STAMP)

# Fetch ml-100k, print its statistics, encode its texts, train the text-fused GNN and show
# its test metrics and ten recommendations for one user.
demo: $(STAMP)
	$(BIN)/recjax-data ml-100k
	$(BIN)/recjax-encode
	$(BIN)/recjax-train experiment=ml100k_text_gnn

# Two test files at a time (pytest-xdist, one worker per core up to 2): most tests start
# processes or compile, and a file's tests stay together so its module fixtures run once.
test: $(STAMP)
	$(BIN)/ruff check recjax experiments tests benchmarks
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ""

lint: $(STAMP)
	$(BIN)/ruff check recjax experiments tests benchmarks
	$(BIN)/ruff format --check recjax experiments tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format recjax experiments tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
