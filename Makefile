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

# Installs and starts what the tests need (PostgreSQL on loopback, chromium), then runs them all.
# The server is shared: this run holds a lease on it for as long as its recipe shell lives, and
# stops it afterwards only if no other run holds one and no `make services` started it.
test: install
	lease=$$$$; bash scripts/services.sh start --lease $$lease || exit $$?; \
	  . ./.tmp/services.env && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	  bash scripts/services.sh stop --lease $$lease; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -q -x -m "not slow" $(PYTEST_ARGS)

services:
	bash scripts/services.sh start

# Refuses while a `make test` holds a lease on the server (naming it); FORCE=1 stops it anyway.
services-stop:
	bash scripts/services.sh stop $(if $(FORCE),--force)

bench: install
	$(BIN)/python benchmarks/data_vs_dvc.py

clean:
	rm -rf $(VENV) .tmp build *.egg-info
