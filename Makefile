# neglr: two commands. `make book` builds everything; `make test` runs the tests.
# Both create the virtual environment and install the pinned packages first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
# Data root: NEGLR_DATA from the environment, else a `shared/data` folder beside the
# checkout when there is one (the offline copy on the project's machines), else the
# package's default cache folder (where Omniglot is downloaded when the network works).
NEGLR_DATA ?= $(abspath $(wildcard ../shared/data))
export NEGLR_DATA
STAMP := $(VENV)/.neglr-installed

.PHONY: install data test book bench clean

$(STAMP): pyproject.toml constraints.txt scripts/install_learn2learn.sh scripts/install_system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt -e ".[book,dev]"
	bash scripts/install_learn2learn.sh $(PY)
	bash scripts/install_system.sh
	touch $@

install: $(STAMP)

data: install
	$(PY) -m neglr_utils data --profile $(PROFILE)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

book: install data
	$(PY) book/build.py --profile $(PROFILE)

bench: install
	$(PY) benchmarks/bench_meta.py

clean:
	rm -rf book/_build book/executed
