# siteclass — the two commands of the README's quick start:
#   make demo   install into .venv, then run the whole pipeline on the embedded demo
#   make test   install into .venv, then ruff, mypy and the whole pytest suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch goes in first, from the CPU build, so no dependency pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# Where the CPU wheel lives on a fresh machine without a local copy, e.g.
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
PYTEST_ARGS ?=

.PHONY: install demo test lint typecheck pytest bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/siteclass quickstart

lint: install
	$(BIN)/ruff check siteclass tests bench

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: install
	$(BIN)/ruff check siteclass tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache quickstart-out
