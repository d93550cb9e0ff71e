# The two set-up commands of the README: `make train` (the main job) and `make test`.
# Each builds the virtual environment on first use: CPU torch first, then the package with its extras (tests, zoo,
# examples, postgres, benchmarks, docs).
VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: install train test lint type doc wheel-check

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[tests,zoo,examples,postgres,benchmarks,docs]"
	touch $@

train: install
	$(PY) -m sb3_reinforce --env CartPole-v1 --conf-file zoo_configs/reinforce.yml

test: install
	$(PY) -m pytest -n 2 tests

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy on the package and the tests, with SB3's settings (pyproject.toml: ignore_missing_imports, follow_imports)
type: install
	$(VENV)/bin/mypy sb3_reinforce tests

# the documentation site (docs/, MyST pages) into docs/_build/html; every warning, broken links and references included
# (-n: nitpicky), is an error, reported all at once (--keep-going); -E: every page re-read, so none hides its warnings
doc: install
	$(PY) -m sphinx -b html -E -W --keep-going -n docs docs/_build/html

# the wheel as a user installs it: built, installed with the zoo extra in a fresh venv, train and enjoy run elsewhere
wheel-check: install
	BUILD_PY=$(abspath $(PY)) PYTHON=$(PYTHON) TORCH="$(TORCH)" bash .ci/wheel_check
