# neglr: two commands. `make book` builds everything; `make test` runs the tests
# (`make test-fast`: all but the slow ones, for the edit loop).
# Both create the virtual environment and install the pinned packages first.
# `make lab` opens the notebooks in JupyterLab (notebooks/08_explorer.py first).
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
# Threads on a small shared machine (benchmarks/results/cpu2-threads.json): idle OpenMP
# threads spin only briefly, so a busy neighbour does not slow torch down many-fold;
# book/build.py gives each chapter's kernel the cores free when it starts, and the
# study's lanes one thread each.
export GOMP_SPINCOUNT ?= 10000
# make lab: the port on 127.0.0.1, the file opened first, more JupyterLab options
# (e.g. LAB_ARGS=--no-browser on a machine without a browser).
LAB_PORT ?= 8888
LAB_OPEN ?= notebooks/08_explorer.py
LAB_ARGS ?=

.PHONY: install data test test-fast book bench clean lab study

$(STAMP): pyproject.toml constraints.txt scripts/install_learn2learn.sh scripts/install_system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt -e ".[book,dev]"
	$(PY) scripts/lab.py --install-settings
	bash scripts/install_learn2learn.sh $(PY)
	bash scripts/install_system.sh
	touch $@

install: $(STAMP)

data: install
	$(PY) -m neglr_utils data --profile $(PROFILE)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

# The edit loop: every test but those marked slow (the book build, JupyterLab in a
# browser, retraining under other instruction sets, compiled paths, learn2learn).
test-fast: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

book: install data
	$(PY) book/build.py --profile $(PROFILE)

# JupyterLab 4 on the repository with the project's kernel; .py notebooks open as
# notebooks (settings override inside .venv, see scripts/lab.py), widgets live.
lab: install
	$(PY) scripts/lab.py --port $(LAB_PORT) $(LAB_ARGS) $(LAB_OPEN)

# The CPU study (results/cpu): every run, evaluation and probe that is missing; resumable.
# STUDY_ARGS passes options, e.g. STUDY_ARGS="--max-minutes 60".
STUDY_ARGS ?=
study: install data
	$(PY) -m neglr_utils study --profile cpu $(STUDY_ARGS)

bench: install
	$(PY) benchmarks/bench_meta.py

clean:
	rm -rf book/_build book/executed
