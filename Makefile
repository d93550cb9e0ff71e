# The two set-up commands of the README: `make train` (the main job) and `make test`.
# Each builds the virtual environment on first use: CPU torch first, then the package with its extras (tests, zoo,
# examples, postgres).
VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: install train test lint wheel-check

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[tests,zoo,examples,postgres]"
	touch $@

train: install
	$(PY) -m sb3_reinforce --env CartPole-v1 --conf-file zoo_configs/reinforce.yml

test: install
	$(PY) -m pytest -n 2 tests

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# the wheel as a user installs it: built, installed with the zoo extra in a fresh venv, train and enjoy run elsewhere
wheel-check: install
	BUILD_PY=$(abspath $(PY)) PYTHON=$(PYTHON) TORCH="$(TORCH)" bash .ci/wheel_check
