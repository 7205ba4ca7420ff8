# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast services services-stop bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,web]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	bash scripts/demo.sh

# Installs and starts what the tests need (PostgreSQL on loopback, chromium), then runs them all;
# stops PostgreSQL afterwards only if this run started it.
test: install
	bash scripts/services.sh start
	. ./.tmp/services.env && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	  bash scripts/services.sh stop --if-started; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -q -x -m "not slow" $(PYTEST_ARGS)

services:
	bash scripts/services.sh start

services-stop:
	bash scripts/services.sh stop

bench: install
	$(BIN)/python benchmarks/data_vs_dvc.py

clean:
	rm -rf $(VENV) .tmp build *.egg-info
