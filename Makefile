# Set-up and everyday commands. Every target creates the virtual environment on first use and reuses it.
#   make train [ARGS="loss=ipo beta=0.05"]   one DPO run on the offline default (tiny Qwen2 + Arabic pairs)
#   make test                                the whole test suite, slow tests included (what CI runs)
#   make test-fast                           the default pytest selection (no `slow` tests)
#   make lint                                ruff check + format check

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# torch 2.13.0: a CPU build where one lies on disk, the standard wheel elsewhere. An unpinned torch would pull
# a multi-GB CUDA build on CPU machines.
TORCH_SPEC ?= torch==2.13.0

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev,postgres,slurm,gguf]"
	$(PY) -m pip check
	touch $@

install: $(VENV)/.installed

train: $(VENV)/.installed
	$(PY) -m arabic_pref.train $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest -m "slow or not slow" $(PYTEST_ARGS)

test-fast: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: install train test test-fast lint
